# replog: one master, any number of secondaries. See README.md.
GO      ?= go
PKGS    := ./master/... ./secondary/... ./shared/...
BIN     := bin

.PHONY: build test vet tidy run run-test clean e2e e2e-swarm bench bench-micro postman demo rules soak fuzz docker-build docker-up docker-down ha-up ha-down helm-check

build:
	cd master && CGO_ENABLED=0 $(GO) build -trimpath -o ../$(BIN)/master .
	cd secondary && CGO_ENABLED=0 $(GO) build -trimpath -o ../$(BIN)/secondary .

# gotestsum runs go test and ends with every skipped test and its reason,
# which go test alone hides for passing packages.
GOTESTSUM ?= $(GO) run gotest.tools/gotestsum@v1.13.0

test:
	$(GOTESTSUM) --format pkgname -- -race -count=1 $(PKGS)

vet:
	gofmt -l master secondary shared | (! grep .) || (echo "gofmt needed on the files above"; exit 1)
	$(GO) vet $(PKGS)

tidy:
	cd shared && $(GO) mod tidy
	cd master && $(GO) mod tidy
	cd secondary && $(GO) mod tidy
	$(GO) work sync
	cd deploy/k8s && GOWORK=off $(GO) mod tidy

# A master on :8080 and secondaries on :8081 and :8082, in the foreground;
# MASTER_PORT, S1_PORT and S2_PORT pick others (make run MASTER_PORT=9080).
run: build
	deploy/run-local.sh

# deploy/run-local.sh's own test: busy ports, a failed start, a normal
# start and stop, on free ports (about ten seconds).
run-test: build
	deploy/run-local-test.sh

# The load benchmark against a baseline (see docs/PERFORMANCE.md); BENCH_ARGS
# passes options, e.g. BENCH_ARGS="-duration 3s -repeat 1 -catchup 0".
bench: build
	cd master && $(GO) run ./cmd/bench -bin ../$(BIN) $(BENCH_ARGS)

# Micro-benchmarks of the hot paths.
bench-micro:
	$(GO) test -run XXX -bench . -benchmem ./shared/frame/ ./shared/follow/ ./master/internal/replication/ ./master/internal/api/

# The course's scenario played on a fresh local cluster, then a failover
# with a rollback on another, checked step by step (DEMO_HOLD=1 keeps the
# second cluster up at the end).
demo: build
	cd master && $(GO) run ./cmd/demo -bin ../$(BIN)

# The Prometheus scrape config and alert rules: syntax, and the rules'
# unit tests (promtool, from Debian's prometheus package).
rules:
	promtool check config deploy/prometheus/prometheus.yml
	promtool check config deploy/prometheus/prometheus.ha.yml
	cd deploy/prometheus && promtool test rules alerts_test.yml

# The Postman collection (docs/postman) run by newman against a fresh local cluster.
postman: build
	deploy/postman.sh

# Every fuzz target, FUZZTIME each (CI: 10s). Failures land in the
# package's testdata/fuzz, to commit with the fix.
FUZZTIME ?= 10s
fuzz:
	cd shared && $(GO) test -run XXX -fuzz '^FuzzDecodeRecord$$' -fuzztime $(FUZZTIME) ./store
	cd shared && $(GO) test -run XXX -fuzz '^FuzzDecodeFrame$$' -fuzztime $(FUZZTIME) ./frame
	cd shared && $(GO) test -run XXX -fuzz '^FuzzAppendString$$' -fuzztime $(FUZZTIME) ./frame
	cd shared && $(GO) test -run XXX -fuzz '^FuzzDecodeAppend$$' -fuzztime $(FUZZTIME) ./frame
	cd shared && $(GO) test -run XXX -fuzz '^FuzzMessagesQuery$$' -fuzztime $(FUZZTIME) ./httpapi
	cd master && $(GO) test -run XXX -fuzz '^FuzzParseAppend$$' -fuzztime $(FUZZTIME) ./internal/api
	cd shared && $(GO) test -run XXX -fuzz '^FuzzSimulation$$' -fuzztime $(FUZZTIME) ./election

# The chaos tests' long forms: SOAK (default 30m) of faults each, the
# single master's and then the failover cluster's, then every check of
# their histories (see README "Chaos and the history checker").
SOAK ?= 30m
soak:
	cd master && $(GO) test -count=1 -timeout 3h -v -run 'TestChaos$$|TestChaosFailover$$' ./clustertest/ \
		-chaos.duration=$(SOAK) -chaos.failover=$(SOAK)

# The end-to-end suite against docker compose (skips without a Docker engine).
e2e:
	deploy/e2e.sh

# deploy/swarm/stack.yml on a single-node swarm (made and left when the
# engine is in none): scale, a killed leader, a rolling update, no lost
# write, a standby leading when the leader is killed (see the script).
e2e-swarm:
	deploy/e2e-swarm.sh

# The Helm chart (deploy/helm/replog), checked without a cluster: helm lint
# --strict and deploy/k8s's tests (every object decoded strictly with
# Kubernetes' types, the failover contract's rules) for each value set in
# deploy/k8s/testdata. helm is installed into bin/ when missing. deploy/k8s
# is a module outside go.work (GOWORK=off): in the workspace, Kubernetes'
# dependency graph would choose versions for the binaries' builds, and the
# images' build would need it.
HELM_VERSION := v4.3.2
HELM ?= $(BIN)/helm-$(HELM_VERSION)

helm-check: $(HELM)
	for v in deploy/k8s/testdata/*.yaml; do \
		$(HELM) lint --strict deploy/helm/replog --namespace replog-test --values $$v || exit 1; \
	done
	gofmt -l deploy/k8s | (! grep .) || (echo "gofmt needed on the files above"; exit 1)
	cd deploy/k8s && GOWORK=off $(GO) vet ./... && GOWORK=off HELM=$(abspath $(HELM)) $(GO) test -count=1 ./...

$(BIN)/helm-$(HELM_VERSION):
	mkdir -p $(BIN)/helm-install
	GOBIN=$(abspath $(BIN))/helm-install $(GO) install helm.sh/helm/v4/cmd/helm@$(HELM_VERSION)
	mv $(BIN)/helm-install/helm $@ && rmdir $(BIN)/helm-install

# Images and the compose stack. deploy/builder.sh picks the builder: the
# offline one (made here when missing or stale) unless REPLOG_BUILDER names
# another, e.g. REPLOG_BUILDER=golang:1.26-bookworm (needs a registry).
docker-build:
	b=$$(deploy/builder.sh) && REPLOG_BUILDER=$$b deploy/compose.sh build

docker-up:
	b=$$(deploy/builder.sh) && REPLOG_BUILDER=$$b deploy/compose.sh up -d --build
	deploy/compose.sh ps

docker-down:
	deploy/compose.sh down

# The failover stack (docker-compose.ha.yml: m1, m2, m3 and s1, s2) as the
# project replog-ha. CLUSTER_STATE=new only when none of its volumes
# exists yet, i.e. on the cluster's first start (see README "Failover").
HA_COMPOSE := deploy/compose.sh -p replog-ha -f docker-compose.ha.yml

ha-up:
	b=$$(deploy/builder.sh) && \
	state=$$(docker volume ls -q --filter label=com.docker.compose.project=replog-ha | grep -q . || echo new) && \
	echo "ha-up: CLUSTER_STATE=$${state:-(unset)}" && \
	REPLOG_BUILDER=$$b REPLOG_CLUSTER_STATE=$$state $(HA_COMPOSE) up -d --build
	$(HA_COMPOSE) ps

ha-down:
	$(HA_COMPOSE) down

clean:
	rm -rf $(BIN)
