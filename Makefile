# Backstop: `make demo` and `make test` set everything up on a fresh machine.
SWIFT       ?= swift
PREFIX      ?= /usr/local
CONFIG      ?= release
BIN          = .build/$(CONFIG)/backstop
LOADGEN      = .build/$(CONFIG)/backstop-loadgen

# Debian packages the build needs (C libraries linked as system-library targets), plus the
# sqlite3 and gzip programs that the tests and the demo use to check Backstop's files.
DEB_PACKAGES       = libsqlite3-dev zlib1g-dev libdeflate-dev libssl-dev pkg-config sqlite3 gzip
# Tools the tests drive Backstop with: a wrong clock (faketime), a file system that loses what was
# not flushed (FUSE, driven by Python in a private venv: Tests/tools).
TEST_PACKAGES      = faketime fuse libfuse2 python3-venv
# Extra tools the benchmark compares against.
BENCH_PACKAGES     = pigz time

.PHONY: all deps test-deps bench-deps build build-debug test demo bench install clean

all: build

deps:
	@./scripts/install-deps.sh $(DEB_PACKAGES)

test-deps: deps
	@./scripts/install-deps.sh $(TEST_PACKAGES)
	@./scripts/test-venv.sh

bench-deps: deps
	@./scripts/install-deps.sh $(BENCH_PACKAGES)

build: deps
	$(SWIFT) build -c $(CONFIG)

build-debug: deps
	$(SWIFT) build

test: test-deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --disable-swift-testing

demo: build
	./examples/devchain/demo.sh $(BIN) $(LOADGEN)

# make bench SIZE=256MiB for a quicker run; results go to bench/results/.
bench: bench-deps build
	./bench/run.sh $(BIN) $(LOADGEN) $(or $(SIZE),1GiB)

install: build
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/backstop

clean:
	rm -rf .build
