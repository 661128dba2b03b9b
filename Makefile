# anydiag: build, test and demo. `make help` lists the targets.
SHELL      := /bin/bash
GO         ?= go
BIN        := bin/anydiag
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS    := -X main.version=$(VERSION)
FUZZTIME   ?= 10s
BENCHTIME  ?= 1x
TESTFLAGS  ?= -timeout 15m

# Commands the tests drive, and the Debian package each comes from.
REQUIRED := /usr/lib/frr/bgpd:frr /usr/bin/vtysh:frr /usr/sbin/bird:bird2 /usr/sbin/birdc:bird2 \
            /usr/bin/gobgpd:gobgpd /usr/bin/promtool:prometheus /usr/bin/prometheus:prometheus \
            /usr/bin/victoria-metrics:victoria-metrics /usr/bin/prometheus-alertmanager:prometheus-alertmanager \
            /usr/sbin/ip:iproute2 /usr/sbin/nft:nftables /usr/sbin/tc:iproute2

.PHONY: all build test lint unit check-deps bench fuzz demo clean help

all: build

help:
	@echo "make build   build $(BIN)"
	@echo "make test    lint, unit and integration tests (root runs the lab tests)"
	@echo "make lint    gofmt and go vet"
	@echo "make unit    go test only, without the Debian package check (lab tests skip when not root)"
	@echo "make bench   benchmarks of the hot paths (BENCHTIME=$(BENCHTIME))"
	@echo "make fuzz    every fuzz target for FUZZTIME=$(FUZZTIME)"
	@echo "make demo    the anycast lab with its scenarios (root)"

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/anydiag

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt: these files need formatting:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# The tests use real daemons; say which package is missing instead of failing obscurely.
check-deps:
	@missing=""; for r in $(REQUIRED); do f=$${r%%:*}; p=$${r##*:}; \
	  [ -x "$$f" ] || missing="$$missing $$p($$f)"; done; \
	if [ -n "$$missing" ]; then \
	  echo "make test: missing Debian packages:$$missing"; \
	  echo "install them with: apt-get install -y --no-install-recommends$$(for m in $$missing; do echo -n " $${m%%(*}"; done | tr ' ' '\n' | sort -u | tr '\n' ' ')"; \
	  echo "(.ci/run does this)"; exit 1; fi

unit:
	$(GO) test $(TESTFLAGS) ./...

test: lint check-deps build
	$(GO) test $(TESTFLAGS) -p 1 ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...

fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$t ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; done

demo: build
	@if [ "$$(id -u)" != 0 ]; then echo "make demo builds network namespaces: run it as root (sudo make demo)"; exit 2; fi
	./$(BIN) demo

clean:
	rm -rf bin
