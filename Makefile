# Herald's two set-up commands: `make demo` and `make test`. Each installs what it needs, idempotently.
SHELL := /bin/bash
.DEFAULT_GOAL := help

NODE_STAMP := node_modules/.package-lock.json

help:
	@echo "make demo   run Herald on its embedded default (file source, two backends, a real Envoy)"
	@echo "make test   install what is needed and run the whole test suite"
	@echo "make kube   build kube-apiserver, etcd, kube-controller-manager, kubectl, kubelet, kube-proxy, kube-scheduler (cached)"
	@echo "make node   install what the real node needs from Debian (containerd, runc, CNI plugins, iptables)"
	@echo "make images build the OCI image archives (herald, herald-envoy, herald-echo, herald-lab-backend, pause) into .cache/images"
	@echo "make bench  print fan-out, fast-path, memory, peers (go-control-plane), storm and soak figures"
	@echo "            (BENCH_ARGS=\"--quick\" for a short run; \"--only soak --soak-minutes 30\" for the long soak)"

$(NODE_STAMP): package.json package-lock.json lab/package.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

deps: $(NODE_STAMP) envoy

envoy:
	@bash scripts/setup-envoy.sh

# Debian packages the tests use: chromium (the dashboard test, driven by playwright-core).
debian:
	@bash scripts/setup-debian.sh chromium

# The product alone first (src/tsconfig.json: an import outside src/ fails here), then everything (lab, tests, bench).
build: $(NODE_STAMP)
	npx tsc -p src/tsconfig.json
	npx tsc -p tsconfig.json
	@bash scripts/prune-dist.sh
	@bash scripts/build-descriptor.sh

# The product alone, into dist/src: what ships (package.json "files").
product: $(NODE_STAMP)
	npx tsc -p src/tsconfig.json
	@bash scripts/build-descriptor.sh

kube:
	@bash tools/kube/build.sh

node:
	@bash scripts/setup-node.sh

images: deps build
	@bash images/build.sh

demo: deps build
	node dist/src/cli/main.js demo

test: deps debian build kube node images
	@bash scripts/run-tests.sh

bench: deps build
	node dist/bench/run.js $(BENCH_ARGS)

.PHONY: help deps envoy debian build product kube node images demo test bench
