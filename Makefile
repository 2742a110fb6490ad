# otpd. `make run` serves the embedded default; `make test` runs every test.
GO       ?= go
TOOL     := $(GO) tool -modfile=tools/go.mod
BIN      := bin
PKGS     := ./...

.PHONY: all build run test test-cluster test-short fuzz sdk-deps generate check-generated lint vet bench bench-go bench-soak loadtest image quickstart clean

all: build

build:
	$(GO) build -o $(BIN)/otpd ./cmd/otpd

## run: start otpd on the embedded in-process Redis (codes go to the log).
run:
	$(GO) run ./cmd/otpd

## test: every test, with the race detector; real-Redis tests start their own
## redis-server (installed from Debian's packages when missing); the SDK
## compatibility test runs Descope's Node SDK (installed with npm ci).
test: sdk-deps
	@scripts/ensure-redis-server.sh || echo "warning: redis-server unavailable; real-Redis tests will skip (they fail under CI=true)" >&2
	@scripts/ensure-chromium.sh >/dev/null || echo "warning: chromium unavailable; the console's browser tests will skip (they fail under CI=true)" >&2
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

## test-cluster: only the real Redis Cluster / Sentinel / fault tests (also
## part of `make test`): 3+3 Cluster failover, Sentinel failover, frozen
## Redis, OOM, durability mode.
test-cluster:
	@scripts/ensure-redis-server.sh
	$(GO) test -count=1 -timeout 10m -run 'Cluster|Sentinel|Frozen|OOM|Durable|ScriptError' ./server/ ./store/ ./redisconn/ ./internal/testredis/

## sdk-deps: install the pinned Descope Node SDK for the compatibility test.
sdk-deps:
	@if command -v npm >/dev/null 2>&1; then \
		test -d sdktest/node/node_modules/@descope/node-sdk || (cd sdktest/node && npm ci --no-audit --no-fund --loglevel=error); \
	else echo "warning: npm not found; the Node SDK test will skip (it fails under CI=true)" >&2; fi

## image: the container image, carrying the version and commit
## (`otpd version`, label org.opencontainers.image.revision).
image:
	docker build --build-arg VERSION=$$(git describe --always --dirty) --build-arg COMMIT=$$(git rev-parse HEAD) -t otpd:local .

## quickstart: run README.md's quick-start block as written (CI does).
quickstart:
	scripts/check-quickstart.sh

## test-short: fast tests only (miniredis), no race detector.
test-short:
	$(GO) test -short -count=1 $(PKGS)

## fuzz: every fuzz target (go test -fuzz) for FUZZTIME each, one at a time
## (docs/fuzzing.md); FUZZFLAGS="-parallel 1" on a shared machine.
FUZZTIME  ?= 10s
FUZZFLAGS ?=
fuzz:
	FUZZTIME=$(FUZZTIME) FUZZFLAGS="$(FUZZFLAGS)" GO=$(GO) scripts/fuzz.sh

## generate: regenerate gen/ from proto/ with the pinned tools in tools/go.mod.
generate:
	$(TOOL) buf generate

## check-generated: fail when gen/ is not what `make generate` produces.
check-generated: generate
	@git diff --exit-code --stat -- gen || (echo "gen/ is stale: run 'make generate' and commit" >&2; exit 1)
	@test -z "$$(git status --porcelain -- gen)" || (git status --porcelain -- gen; echo "gen/ has untracked or stale files: run 'make generate' and commit" >&2; exit 1)

lint: vet
	$(TOOL) buf lint

vet:
	$(GO) vet $(PKGS)

## bench: the ghz/wrk load benchmark against the baselines (README,
## "Performance"); BENCH_FLAGS="-d 10s -reps 5" by default (-pin, -cluster: docs/performance.md).
BENCH_FLAGS ?=
bench:
	@scripts/ensure-bench-tools.sh
	$(GO) run ./bench/run $(BENCH_FLAGS)

## loadtest: load-test a running otpd (any: local, container, staging) with
## ghz (docs/load-testing.md). TARGET is its gRPC host:port, PROJECT a
## project with its limits off (loadtest/otpd-loadtest.yaml), MGMT_KEY that
## project's management key (verify and login fetch codes for test users).
##   make loadtest TARGET=127.0.0.1:50051 PROJECT=P2otpdLoadTest0000000000000 MGMT_KEY=...
TARGET         ?= 127.0.0.1:50051
PROJECT        ?=
MGMT_KEY       ?=
LOADTEST_FLAGS ?=
loadtest:
	@mkdir -p .loadtest/bin
	$(GO) build -modfile=bench/tools/go.mod -o .loadtest/bin/ghz github.com/bojand/ghz/cmd/ghz
	$(TOOL) buf build -o .loadtest/otp.protoset
	@# Not echoed: the line would print MGMT_KEY (terminals, CI logs).
	@echo '$(GO) run ./loadtest/run -target "$(TARGET)" $(if $(PROJECT),-project "$(PROJECT)") ... $(if $(MGMT_KEY),(MGMT_KEY in OTPD_LOADTEST_MGMT_KEY, not shown))'
	@$(if $(MGMT_KEY),OTPD_LOADTEST_MGMT_KEY="$(MGMT_KEY)") $(GO) run ./loadtest/run -target "$(TARGET)" $(if $(PROJECT),-project "$(PROJECT)") \
		-ghz .loadtest/bin/ghz -protoset .loadtest/otp.protoset $(LOADTEST_FLAGS)

## bench-soak: the hostile soak (docs/hardening.md): otpd as its own process
## on a real redis-server, legitimate logins while eight floods run from
## other loopback addresses; peak RSS, success rate, p99 against a quiet run.
bench-soak:
	@scripts/ensure-redis-server.sh
	$(GO) run ./bench/soak $(SOAK_FLAGS)

## bench-go: the go test -bench micro-benchmarks of the hot paths, then the
## server's allocations and CPU per start, verify, login and refresh with
## the client in another process and the floor (an empty gRPC call)
## subtracted, printed as a table (BenchmarkServerAllocs; docs/performance.md).
bench-go:
	@scripts/ensure-redis-server.sh
	$(GO) test -run '^$$' -bench . -skip ServerAllocs -benchmem ./otpcode/ ./token/ ./delivery/seal/ ./delivery/render/ ./middleware/ ./server/
	$(GO) test -run '^$$' -bench ServerAllocs -benchtime 5x -benchmem -timeout 30m ./server/

clean:
	rm -rf $(BIN) .bench .loadtest

## bench-fraud: the pumping guard's long simulation (12 simulated hours,
## a sweep of thresholds, real redis-server): the table in
## docs/abuse-protection.md.
.PHONY: bench-fraud
bench-fraud:
	@scripts/ensure-redis-server.sh
	$(GO) test -run '^$$' -bench PumpingSimulation -benchtime 1x -timeout 60m ./fraud/
