# anydiag: build, test and demo. `make help` lists the targets.
SHELL      := /bin/bash
GO         ?= go
BIN        := bin/anydiag
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS    := -X main.version=$(VERSION)
FUZZTIME   ?= 10s
BENCHTIME  ?= 1x
TESTFLAGS  ?= -timeout 15m

.PHONY: all build test lint unit deps-test deps-demo bench timing fuzz demo clean help

all: build

help:
	@echo "make build   build $(BIN)"
	@echo "make test    lint, unit and integration tests (root runs the lab tests)"
	@echo "make lint    gofmt and go vet"
	@echo "make unit    go test only, without the Debian package check (lab tests skip when not root)"
	@echo "make deps-test, make deps-demo   install the Debian packages the tests or the demo drive (root), or print the command"
	@echo "make bench   benchmarks of the hot paths (BENCHTIME=$(BENCHTIME))"
	@echo "make timing  withdrawal-time distributions at a real FRR upstream, anydiag beside ExaBGP's healthcheck (root, minutes)"
	@echo "make fuzz    every fuzz target for FUZZTIME=$(FUZZTIME)"
	@echo "make demo    the anycast lab with its scenarios (root)"

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/anydiag

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt: these files need formatting:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# The tests and the demo drive real daemons: install the Debian packages they
# need when missing (as root on Debian), or print the exact command (.ci/deps).
deps-test:
	@./.ci/deps test

deps-demo:
	@./.ci/deps demo

unit:
	$(GO) test $(TESTFLAGS) ./...

test: lint deps-test build
	$(GO) test $(TESTFLAGS) -p 1 ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...

# Lab measurements too long for make test: each speaker's Withdraw() to FRR
# dropping the route, and the agent from a dying service to FRR, beside
# ExaBGP's healthcheck at the same settings.
timing: deps-test
	set -o pipefail; ANYDIAG_SPEAKER_BENCH=1 $(GO) test -p 1 -count=1 -run 'LabWithdrawTiming' -v ./speakers/... | grep -E '^(=== RUN|---|ok|FAIL)|p50|p99'
	set -o pipefail; ANYDIAG_AGENT_BENCH=1 $(GO) test -p 1 -count=1 -run 'TestLabWithdrawalTiming' -v ./internal/agent/ | grep -E '^(=== RUN|---|ok|FAIL)|p50|p99'

fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$t ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; done

demo:
	@if [ "$$(id -u)" != 0 ]; then echo "make demo builds network namespaces: run it as root (sudo make demo)"; exit 2; fi
	@./.ci/deps demo
	@$(MAKE) --no-print-directory build
	./$(BIN) demo

clean:
	rm -rf bin
