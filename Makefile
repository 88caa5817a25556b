# Switchyard. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin/switchyard
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

# The real local stack the integration tests run against (see deploy/README.md).
export SWITCHYARD_TEST_KAFKA ?= 127.0.0.1:9092
export SWITCHYARD_CLICKHOUSE_TEST_ADDR ?= 127.0.0.1:9000
export SWITCHYARD_TEST_REGISTRY ?= http://127.0.0.1:8081/apis/ccompat/v7

.PHONY: help build run demo test test-unit bench eval lint fmt clean
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  %-16s %s\n",$$1,$$2}'

build: ## Build bin/switchyard
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/switchyard

run: build ## Run the demo: in-process Kafka, registry, simulator, every role and a load generator
	./$(BIN) demo

test: build ## Every test: unit tests, then integration tests against the real Kafka, ClickHouse and registry it starts
	bash deploy/test-deps.sh
	SWITCHYARD_REGISTRY=1 bash deploy/services.sh up
	SWITCHYARD_REQUIRE_SERVICES=1 SWITCHYARD_CLICKHOUSE_ADDR=$(SWITCHYARD_CLICKHOUSE_TEST_ADDR) \
		$(GO) test -race -shuffle=on -timeout 30m $$($(GO) list ./... | grep -v '/cmd/switchyard$$')
	@# Verbose, so the log says which broker and ClickHouse the end-to-end tests ran against.
	SWITCHYARD_REQUIRE_SERVICES=1 $(GO) test -race -shuffle=on -timeout 30m -v ./cmd/switchyard

test-unit: ## Unit tests only (in-process Kafka and simulator; no services needed)
	$(GO) test -race -shuffle=on -short ./...

# make bench runs its own broker on tmpfs (see docs/benchmarks.md for why), apart from `make services`.
BENCH_KAFKA := SERVICES=kafka SERVICES_DIR=/dev/shm/switchyard-bench KAFKA_PORT=19092 \
	KAFKA_JVM_OPTS="-Xms1g -Xmx1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20"

bench: build ## Benchmarks: micro (docs/bench-micro.txt) and end to end on kfake and a real broker (docs/benchmarks.md)
	$(GO) test -run '^$$' -bench . -benchmem ./schemas/ ./router/ ./adapters/... ./consumers/... ./producers/ ./resilience/ ./gateway/ | tee docs/bench-micro.txt
	$(BENCH_KAFKA) bash deploy/services.sh up
	@echo "warming the broker's JIT with one unreported pass ..."
	./$(BIN) bench --brokers 127.0.0.1:19092 --targets kafka --requests 20000 --latency-requests 5000 >/dev/null \
		|| { $(BENCH_KAFKA) bash deploy/services.sh clean; exit 1; }
	./$(BIN) bench --brokers 127.0.0.1:19092 --out docs/benchmarks.md \
		--broker-note "Apache Kafka from make services' jars, single node, data on tmpfs, JVM -Xms1g -Xmx1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20" \
		|| { $(BENCH_KAFKA) bash deploy/services.sh clean; exit 1; }
	$(BENCH_KAFKA) bash deploy/services.sh clean

# make bench-gateways: the LiteLLM proxy (PyPI) and the Portkey gateway (npm), installed and started by
# deploy/bench-gateways.sh, beside a direct call, all in front of one `switchyard sim` (docs/gateway-bench.md).
# Switchyard's own OpenAI-compatible gateway joins as one more target once it runs; set (the gateway's
# author wires this in):
#   SWITCHYARD_GATEWAY_TARGET = switchyard=http://127.0.0.1:PORT/v1,key=KEY,model=gpt-4o-mini[,pid=PID]
SWITCHYARD_GATEWAY_TARGET ?=
GWBENCH_SIM_ADDR ?= 127.0.0.1:8400
# The simulator's latency: 0ms by default; GWBENCH_SIM_LATENCY=50ms GWBENCH_OUT=docs/gateway-bench-50ms.md for the second pass.
GWBENCH_SIM_LATENCY ?= 0ms
GWBENCH_OUT ?= docs/gateway-bench.md
GWBENCH_FLAGS ?= --rates 25,100,500 --duration 10s --rounds 5 --stream --timeout 5s --concurrency-max 256 --sat-duration 3s
GWBENCH_DIR := .services/bench-gateways

.PHONY: bench-gateways
bench-gateways: build ## Gateways side by side (direct, LiteLLM, Portkey[, Switchyard]) before one simulator (docs/gateway-bench.md)
	@mkdir -p $(GWBENCH_DIR)
	set -euo pipefail; \
	sim_pid=; \
	cleanup() { bash deploy/bench-gateways.sh down || true; \
		if [[ -n $$sim_pid ]]; then kill $$sim_pid 2>/dev/null || true; wait $$sim_pid 2>/dev/null || true; fi; }; \
	trap cleanup EXIT; trap 'exit 130' INT TERM; \
	./$(BIN) sim --addr $(GWBENCH_SIM_ADDR) --latency $(GWBENCH_SIM_LATENCY) --jitter 0 >$(GWBENCH_DIR)/sim.log 2>&1 & sim_pid=$$!; \
	for i in $$(seq 50); do curl -sf -o /dev/null http://$(GWBENCH_SIM_ADDR)/_sim/stats && break; sleep 0.2; done; \
	curl -sf -o /dev/null http://$(GWBENCH_SIM_ADDR)/_sim/stats || { cat $(GWBENCH_DIR)/sim.log; exit 1; }; \
	export SIM_URL=http://$(GWBENCH_SIM_ADDR); \
	bash deploy/bench-gateways.sh up; \
	./$(BIN) bench-gateways --target direct=http://$(GWBENCH_SIM_ADDR)/v1,pid=$$sim_pid \
		$$(bash deploy/bench-gateways.sh targets) \
		$(if $(SWITCHYARD_GATEWAY_TARGET),--target $(SWITCHYARD_GATEWAY_TARGET)) \
		--provider-latency $(GWBENCH_SIM_LATENCY) $(GWBENCH_FLAGS) --out $(GWBENCH_OUT) \
		--note "$$(bash deploy/bench-gateways.sh versions); provider: switchyard sim --latency $(GWBENCH_SIM_LATENCY) --jitter 0"

# make bench-gateways-all: bench-gateways with Switchyard's own gateway as one more target: router,
# worker and gateway in one process (deploy/bench/gateway.yaml) on the bench broker (tmpfs, port
# 19092), in front of the same simulator, after one unreported pass that warms the broker's JIT.
# The broker's CPU counts toward Switchyard's (with=<broker pid>).
.PHONY: bench-gateways-all
bench-gateways-all: build ## bench-gateways with Switchyard's gateway (and its Kafka broker) as a target too
	@mkdir -p $(GWBENCH_DIR)
	set -euo pipefail; \
	sy_pid=; \
	cleanup() { if [[ -n $$sy_pid ]]; then kill $$sy_pid 2>/dev/null || true; wait $$sy_pid 2>/dev/null || true; fi; \
		$(BENCH_KAFKA) bash deploy/services.sh clean; }; \
	trap cleanup EXIT; trap 'exit 130' INT TERM; \
	$(BENCH_KAFKA) bash deploy/services.sh up; \
	kafka_pid=$$(cat /dev/shm/switchyard-bench/kafka/kafka.pid); \
	echo "warming the broker's JIT with one unreported pipeline pass ..."; \
	./$(BIN) bench --brokers 127.0.0.1:19092 --targets kafka --requests 20000 --latency-requests 5000 --repeat 1 >/dev/null; \
	./$(BIN) run --config deploy/bench/gateway.yaml --roles router,worker,gateway --log-level warn >$(GWBENCH_DIR)/switchyard.log 2>&1 & sy_pid=$$!; \
	for i in $$(seq 100); do curl -sf -o /dev/null http://127.0.0.1:8080/healthz && break; sleep 0.3; done; \
	curl -sf -o /dev/null http://127.0.0.1:8080/healthz || { tail -n 30 $(GWBENCH_DIR)/switchyard.log; exit 1; }; \
	$(MAKE) --no-print-directory bench-gateways \
		SWITCHYARD_GATEWAY_TARGET=switchyard=http://127.0.0.1:8080/v1,key=sk-bench,model=gpt-4o-mini,pid=$$sy_pid,with=$$kafka_pid

eval: ## Offline routing evaluation of the demo config (rewrites docs/eval.md's results and docs/eval-cost.svg)
	$(GO) run ./cmd/switchyard eval --config cmd/switchyard/demo.yaml --requests router/testdata/eval_requests.jsonl --out-md docs/eval.md --out-svg docs/eval-cost.svg

lint: ## gofmt and go vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

fmt: ## gofmt the tree
	gofmt -w $$(git ls-files '*.go')

clean: ## Remove build output
	rm -rf bin

-include deploy/Makefile.services.mk
