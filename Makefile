# bulkhead: build, demo, test and bench entry points. See README.md.
SHELL := /bin/bash
.NOTPARALLEL:
.DEFAULT_GOAL := build

TARGET_DIR := $(abspath $(or $(CARGO_TARGET_DIR),target))
# Evaluated when used, so that `make deps` in the same run can add the musl target.
TRIPLE = $(shell scripts/triple.sh)
BULKHEAD ?= $(TARGET_DIR)/$(TRIPLE)/release/bulkhead

export CARGO_TARGET_DIR := $(TARGET_DIR)

.PHONY: all deps deps-demo deps-node build demo test bench vm-test clean conformance integration integration-runc reliability node-image node-test node-bench

all: build

deps:
	@scripts/install-deps.sh

# Only what `make demo` needs (no test clients, no VM kernel).
deps-demo:
	@scripts/install-deps.sh --demo

build:
	@scripts/build.sh

demo: deps-demo build
	scripts/mkbundle.sh build/demo "$(BULKHEAD)" sh -c 'echo Hello from bulkhead; uname -a'
	"$(BULKHEAD)" --root "$(CURDIR)/build/demo-root" run --bundle build/demo demo-$$$$

# VM tests (vm/tests/*.sh, through vm/run.sh) first, then cargo test, so the
# output ends with cargo's summary lines; exits non-zero if either failed.
test: deps
	@scripts/test.sh

vm-test: deps build
	@scripts/vm-tests.sh

# bulkhead is optional in the benchmark: a failed build is reported, not fatal.
bench: deps
	@if [ "$(origin BULKHEAD)" = file ] && ! scripts/build.sh; then \
	    echo "bench: bulkhead build failed; benchmarking runc and crun only"; \
	    BULKHEAD=/nonexistent/bulkhead scripts/bench.sh; \
	else \
	    BULKHEAD="$(BULKHEAD)" scripts/bench.sh; \
	fi

# OCI runtime conformance suite (conformance/): RUNTIME=/usr/sbin/runc make conformance
# runs it against another runtime.
conformance: deps
	@conformance/run.sh

# End-to-end: containerd (ctr + CRI), podman, podman rootless and dockerd driving bulkhead (integration/README.md).
# CLIENTS=containerd|cri|podman|podman-rootless|docker|all (default all).
integration: deps build
	RUNTIME="$(BULKHEAD)" integration/run.sh $(or $(CLIENTS),all)

# The same steps against runc, the reference.
integration-runc: deps
	RUNTIME="$$(command -v runc)" integration/run.sh $(or $(CLIENTS),all)

# Never wedge, never leak (scripts/reliability.py): SIGKILL at random points, concurrent
# lifecycles, create races, concurrent exec, kill vs delete --force, config.json fuzzing.
# RUNTIME=/usr/sbin/runc make reliability runs it against runc; MUTANTS, TRIALS... scale it.
reliability: deps build
	RUNTIME="$(or $(RUNTIME),$(BULKHEAD))" scripts/reliability.py

# The production-node VM (vm/node/): Debian sid, systemd, pure cgroup v2, containerd 2,
# podman 5, docker 28. Host needs: mmdebstrap, e2fsprogs, qemu (deps-node).
deps-node: deps
	@scripts/install-deps.sh --node

node-image: deps-node
	@scripts/node-image.sh

# make bench inside the node VM: pure cgroup v2, systemd, sid's runc and crun (TCG: compare
# only ratios within the run). ITERATIONS, WORKERS, PAR_SECONDS, NODE_SMP as for make bench.
node-bench: deps-node build
	@BULKHEAD="$(BULKHEAD)" scripts/node-bench.sh

# RUNTIME=bulkhead (default) | runc | crun (the node's own); NODE_CLIENTS to run a subset.
node-test: deps-node
	@if [ "$(notdir $(or $(RUNTIME),bulkhead))" = bulkhead ]; then scripts/build.sh || exit 1; fi
	@BULKHEAD="$(BULKHEAD)" RUNTIME="$(or $(RUNTIME),bulkhead)" scripts/node-test.sh

clean:
	cargo clean
	rm -rf build/demo build/demo-root build/bench build/vm
