# mlstate: Argo Workflows steps that snapshot ML pipeline state before
# training and restore it when training fails.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
GO ?= go
STEPS := $(notdir $(wildcard steps/*))
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/mlstate/mlstate/pkg/stepcli.Version=$(VERSION)
TESTENV := $(CURDIR)/bin/testenv
export KUBEBUILDER_ASSETS := $(TESTENV)/k8s
export MLSTATE_MINIO_BIN := $(TESTENV)/minio/minio

.PHONY: all build test test-examples unit testenv lint clean bench stress

all: build

## build: every step binary into bin/ (static, stripped, version stamped)
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/ $(addprefix ./steps/,$(STEPS))

## demo: the main job, locally: guard snapshots a workspace, a toy training run
## corrupts it and fails, guard restores it, catalog lists and verifies (no
## cluster; a file:// store in bin/demo unless MLSTATE_STORE is set)
.PHONY: demo
demo:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/ ./steps/guard ./steps/catalog
	bash examples/local/demo.sh bin bin/demo

## testenv: build the real test servers (kube-apiserver, etcd, MinIO) once into bin/testenv
testenv:
	@bash hack/testenv.sh >/dev/null

## test: unit and integration tests against real MinIO and kube-apiserver,
## then the end-to-end tests on a real single-node cluster (e2e/README.md).
## The cluster needs root; as another user the e2e tests skip naming `sudo
## make test-e2e` (under CI they fail). The first run builds the cluster's
## binaries into bin/cluster (see the README for what it costs).
test: testenv test-bins
	$(GO) test -race -count=1 -timeout 30m ./...
	$(MAKE) test-examples
	$(MAKE) test-e2e

# test-bins: the cluster's binaries when this user can run the cluster
# (root); otherwise nothing, and the e2e tests say what is missing.
.PHONY: test-bins
test-bins:
	@if [ "$$(id -u)" = 0 ]; then $(MAKE) --no-print-directory cluster-bins; else echo "test: not root, so the e2e tests will skip (run \`sudo make test-e2e\` for them)" >&2; fi

## stress: the integration packages under -race, -count=3, with a CPU burner per core and
## GOMAXPROCS above the core count, as a cold CI run loads the machine;
## STRESS_ROUNDS=3 for three rounds in a row (logs in bin/stress)
stress: testenv
	@bash hack/stress.sh

## cluster-bins: what the local single-node cluster needs (as root): containerd,
## runc, CNI plugins, iptables, busybox-static from Debian; kubelet,
## kube-controller-manager, kube-scheduler, kube-proxy, Argo's
## workflow-controller, argoexec and argo-retry built once into bin/cluster/
.PHONY: cluster-bins e2e
cluster-bins: testenv
	@bash hack/cluster-deps.sh
	@bash hack/cluster-bins.sh >/dev/null

## e2e: cluster-bins, then test-e2e (root; see e2e/README.md)
e2e: cluster-bins
	rc=0; $(GO) test -tags e2e -count=1 -timeout 30m -v ./e2e/ || rc=$$?; $(GO) run ./hack/cluster clean; exit $$rc

## test-e2e: the e2e tests as `make test` runs them: nothing is built;
## without the cluster's binaries (`make cluster-bins`) or root they skip
## saying so, and fail under CI. The cluster is torn down even on failure.
.PHONY: test-e2e
test-e2e: testenv
	rc=0; $(GO) test -tags e2e -count=1 -timeout 40m -v ./e2e/ || rc=$$?; $(GO) run ./hack/cluster clean; exit $$rc

## test-examples: the examples that are Go modules of their own (Pulumi), kept
## out of the main module so it does not depend on Pulumi
test-examples:
	cd examples/pulumi && $(GO) test -count=1 ./...

## unit: the tests that need no server (integration tests skip outside CI)
unit:
	$(GO) test -short -count=1 ./...

## lint: gofmt, go vet, staticcheck
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

## bench: mlstate vs mc mirror, rclone copy, restic and kopia on one local MinIO,
## on 1,000×100 KiB + 8×100 MiB and on 20,000×4 KiB; prints a table per shape.
## BENCH_SCALE=1 adds mlstate's 1,000,000×64 B scale run (time, peak RSS; ~10+ min)
bench: testenv
	@bash hack/bench.sh
	@echo; echo "Kanister side (envtest + the test-only stand-in): completion latency and whole-step overhead"
	$(GO) test -run '^$$' -bench 'CompletionLatency|SnapshotStep' -benchtime 50x ./pkg/kanister ./pkg/steps/snapshot

## clean: remove build output (keeps the test servers; `rm -rf bin` removes those too)
clean:
	rm -f $(addprefix bin/,$(STEPS))
	rm -rf bin/images

# Container images (see images/README.md). No Docker needed.
REGISTRY ?= ghcr.io/mlstate
TAG ?= v$(shell cat VERSION)
.PHONY: images push

## images: an OCI image per step (linux/amd64 + linux/arm64) into bin/images/<step>/ and bin/images/<step>.tar
images:
	$(GO) run ./images/build -registry '$(REGISTRY)' -tag '$(TAG)' -out bin/images

## push: build the images and push each multi-platform index to $(REGISTRY) with your Docker credentials
push:
	$(GO) run ./images/build -registry '$(REGISTRY)' -tag '$(TAG)' -out bin/images -push
