# Axiom operator — every entry point a person or CI uses. `make help` lists them.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help setup test unit lint fmt grpc-stubs example bench demo demo-down cluster-binaries cluster-up cluster-down images node-packages realnode-prereqs clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

# Two distributions: runtime/ (axiom-runtime, the `axiom` CLI and server) and the root
# (axiom-operator, which depends on it and adds `axiom operator`), both editable.
$(STAMP): pyproject.toml runtime/pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	@# The `axiom` script moved from axiom-operator to axiom-runtime: replacing an older
	@# axiom-operator after installing axiom-runtime would delete it, so remove both first.
	$(BIN)/pip uninstall -q -y axiom-operator axiom-runtime
	$(BIN)/pip install -q -e ./runtime -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP) ## create .venv and install both distributions with the dev tools

cluster-binaries: ## build (or reuse from ~/.cache/axiom) etcd, kube-*, kwok, helm, the real node's kubelet, kube-proxy, containerd, and the storage test servers from Go modules
	@# The real node's binaries only where a real node can run (root); NODE=1 forces them.
	@if command -v go >/dev/null; then NODE=$${NODE:-$$([ "$$(id -u)" = 0 ] && echo 1 || echo 0)} bash hack/cluster/build.sh \
		&& bash hack/storage/build.sh; \
	else echo "go not found: cluster tests will be skipped"; fi

IMAGE_TAG ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
# The realnode tier needs root (bridge, iptables, mounts): where it is not, nothing is installed
# or built for it and its tests skip, saying so.
realnode-prereqs: cluster-binaries
	@# Not fatal: if a package or an image cannot be had, the tier skips and names what is missing.
	@if [ "$$(id -u)" = 0 ]; then { bash hack/node-packages.sh && bash hack/images/build.sh $(IMAGE_TAG); } \
		|| echo "realnode prerequisites failed (see above): the realnode tier will skip, saying why"; \
	else echo "not root: the realnode tier will be skipped (no images built)"; fi

test: setup cluster-binaries realnode-prereqs ## run every test tier this machine can run (unit, integration, e2e, realnode)
	$(BIN)/python -m pytest tests

unit: setup ## unit tests only (no cluster)
	$(BIN)/python -m pytest tests/unit

lint: setup ## ruff + mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: setup ## format the code
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

grpc-stubs: setup ## regenerate the runtime's Open Inference Protocol gRPC stubs from its .proto
	$(BIN)/python hack/gen-oip-stubs.py

example: setup ## rebuild the example digits model, certificate and test-only keys
	$(BIN)/python examples/build_example.py

bench: setup cluster-binaries ## run the benchmarks and print side-by-side tables
	@command -v wrk >/dev/null || { echo "installing wrk (the load generator) from Debian's packages"; \
		apt-get update -qq && apt-get install -y -qq wrk; }
	$(BIN)/python bench/run_all.py

cluster-up: setup cluster-binaries ## start the local control plane (and node agent) in .cluster/
	$(BIN)/python -m axiom_devcluster up --dir .cluster

cluster-down: ## stop the local control plane
	$(BIN)/python -m axiom_devcluster down --dir .cluster

demo: setup cluster-binaries realnode-prereqs ## the whole story on a local cluster: deploy, canary, promote, auto-rollback, rollback
	$(BIN)/python -m axiom_devcluster.demo $(if $(KEEP),--keep,)

demo-down: ## stop what `make demo KEEP=1` left running
	$(BIN)/python -m axiom_devcluster.demo --down

node-packages: ## install from Debian what the real node and `make images` need (runc, CNI plugins, docker.io...)
	bash hack/node-packages.sh

images: cluster-binaries ## build the operator, runtime and pause images with no registry (debootstrap base; IMAGE_TAG=...)
	bash hack/images/build.sh $(IMAGE_TAG)

clean: ## remove the venv and caches (not the ~/.cache/axiom binaries)
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .cluster
