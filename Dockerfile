# otpd container image: a static binary (CGO_ENABLED=0) on distroless
# static (CA certificates and tzdata, no shell), running as nonroot.
#   docker build --build-arg VERSION=$(git describe --always) -t otpd .
# Checked on CI without a Docker engine: deploy/deploy_test.go builds the
# binary with the same command and flags and checks that it is static.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/otpd ./cmd/otpd \
 && mkdir -p /out/keys

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/otpd /otpd
# An empty /keys owned by nonroot: a named volume mounted there starts with
# that owner, so `otpd keygen -dir /keys` can write into it.
COPY --from=build --chown=65532:65532 /out/keys /keys
USER nonroot:nonroot
# Listen on every interface inside the container (the defaults are loopback).
ENV OTPD_GRPC_ADDR=:50051 OTPD_HTTP_ADDR=:8080
EXPOSE 50051 8080
ENTRYPOINT ["/otpd"]
