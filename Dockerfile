# otpd container image: a static binary (CGO_ENABLED=0) on distroless
# static (CA certificates and tzdata, no shell), running as nonroot.
#   make image        # docker build with VERSION and COMMIT from git
#   docker build --build-arg VERSION=$(git describe --always --dirty) \
#     --build-arg COMMIT=$(git rev-parse HEAD) -t otpd .
# The commit is passed in rather than read by -buildvcs: .git is not sent
# to the build (.dockerignore), and in a git worktree it is only a pointer
# file that go build cannot read. `otpd version` and the image label
# org.opencontainers.image.revision show it.
# Checked on CI without a Docker engine: deploy/deploy_test.go builds the
# binary with the same command and flags and checks that it is static and
# reports the version and commit.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
RUN CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" -o /out/otpd ./cmd/otpd \
 && mkdir -p /out/keys

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="otpd" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}"
COPY --from=build /out/otpd /otpd
# An empty /keys owned by nonroot: a named volume mounted there starts with
# that owner, so `otpd keygen -dir /keys` can write into it.
COPY --from=build --chown=65532:65532 /out/keys /keys
USER nonroot:nonroot
# Listen on every interface inside the container (the defaults are
# loopback). 9090 is the admin listener: /metrics and /healthz (pprof only
# with OTPD_PPROF=true); publish it to your monitoring network only.
ENV OTPD_GRPC_ADDR=:50051 OTPD_HTTP_ADDR=:8080 OTPD_ADMIN_ADDR=:9090
EXPOSE 50051 8080 9090
# No shell or curl in the image: otpd asks its own /healthz.
HEALTHCHECK --interval=10s --timeout=4s --start-period=10s --retries=3 CMD ["/otpd", "healthcheck"]
ENTRYPOINT ["/otpd"]
