# Backstop: `make demo` and `make test` set everything up on a fresh machine.
SWIFT       ?= swift
PREFIX      ?= /usr/local
DESTDIR     ?=
CONFIG      ?= release
BUILD        = .build/$(CONFIG)
BIN          = $(BUILD)/backstop
LOADGEN      = $(BUILD)/backstop-loadgen
MANUAL_TOOL  = $(BUILD)/generate-manual
DOCS         = .build/docs
# The snapshot VFS as a loadable SQLite extension (sqlite3 shell: .load backstop_vfs).
EXTENSION    = $(BUILD)/backstop_vfs.so

# Debian packages the build needs (C libraries linked as system-library targets), plus the
# sqlite3 and gzip programs that the tests and the demo use to check Backstop's files.
DEB_PACKAGES       = libsqlite3-dev zlib1g-dev libdeflate-dev libssl-dev pkg-config sqlite3 gzip
# Tools the tests drive Backstop with: a wrong clock (faketime), a file system that loses what was
# not flushed (FUSE, driven by Python in a private venv: Tests/tools), and the age CLI that Backstop's
# encrypted snapshots must interoperate with.
TEST_PACKAGES      = faketime fuse libfuse2 python3-venv age
# Extra tools the benchmark compares against.
BENCH_PACKAGES     = pigz time age

# Where `make install` puts things (under $(DESTDIR)$(PREFIX)).
BINDIR       = $(PREFIX)/bin
MANDIR       = $(PREFIX)/share/man/man1
BASHDIR      = $(PREFIX)/share/bash-completion/completions
ZSHDIR       = $(PREFIX)/share/zsh/site-functions
FISHDIR      = $(PREFIX)/share/fish/vendor_completions.d
DATADIR      = $(PREFIX)/share/backstop
LIBDIR       = $(PREFIX)/lib/backstop

.PHONY: all deps check-deps test-deps bench-deps build build-debug extension test demo bench docs install uninstall clean

all: build

# The only targets that install system packages (apt-get, as root): deps and the targets that
# must work on a fresh machine (test, demo, bench). `make build` and `make install` only check.
deps:
	@./scripts/install-deps.sh $(DEB_PACKAGES)

check-deps:
	@./scripts/install-deps.sh --check $(DEB_PACKAGES)

test-deps: deps
	@./scripts/install-deps.sh $(TEST_PACKAGES)
	@./scripts/test-venv.sh

bench-deps: deps
	@./scripts/install-deps.sh $(BENCH_PACKAGES)
	@./scripts/test-venv.sh .build/bench-venv bench/requirements.txt

build: check-deps
	$(SWIFT) build -c $(CONFIG)
	@$(MAKE) --no-print-directory extension

extension: $(EXTENSION)

$(EXTENSION): Sources/CBackstopVFS/snapshot_vfs.c Sources/CBackstopVFS/include/backstop_vfs.h
	@mkdir -p $(BUILD)
	$(CC) -shared -fPIC -O2 -DBACKSTOP_VFS_EXTENSION -o $@ Sources/CBackstopVFS/snapshot_vfs.c -ldeflate

build-debug: check-deps
	$(SWIFT) build

test: test-deps
	$(SWIFT) build --build-tests
	@$(MAKE) --no-print-directory extension CONFIG=debug
	$(SWIFT) test --skip-build --disable-swift-testing
	./Tests/tools/install-test.sh

demo: deps
	$(SWIFT) build -c $(CONFIG)
	./examples/devchain/demo.sh $(BIN) $(LOADGEN)

# make bench SIZE=256MiB for a quicker run; results go to bench/results/.
bench: bench-deps
	$(SWIFT) build -c $(CONFIG)
	./bench/run.sh $(BIN) $(LOADGEN) $(or $(SIZE),1GiB)

# The man page (generated from the command definitions by swift-argument-parser's generate-manual)
# and the shell completions (from the same definitions), into .build/docs.
docs: build
	$(SWIFT) build -c $(CONFIG) --product generate-manual
	@mkdir -p $(DOCS)
	$(MANUAL_TOOL) $(BIN) --output-directory $(DOCS) --date $$(date -u +%Y-%m-%d) --section 1
	$(BIN) --generate-completion-script bash > $(DOCS)/backstop.bash
	$(BIN) --generate-completion-script zsh > $(DOCS)/_backstop
	$(BIN) --generate-completion-script fish > $(DOCS)/backstop.fish

install: docs extension
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR) $(DESTDIR)$(BASHDIR) $(DESTDIR)$(ZSHDIR) $(DESTDIR)$(FISHDIR) $(DESTDIR)$(DATADIR)/policies $(DESTDIR)$(LIBDIR)
	install -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/backstop
	install -m 0755 $(EXTENSION) $(DESTDIR)$(LIBDIR)/backstop_vfs.so
	install -m 0644 $(DOCS)/backstop.1 $(DESTDIR)$(MANDIR)/backstop.1
	install -m 0644 $(DOCS)/backstop.bash $(DESTDIR)$(BASHDIR)/backstop
	install -m 0644 $(DOCS)/_backstop $(DESTDIR)$(ZSHDIR)/_backstop
	install -m 0644 $(DOCS)/backstop.fish $(DESTDIR)$(FISHDIR)/backstop.fish
	install -m 0644 policies/*.toml $(DESTDIR)$(DATADIR)/policies/
	@echo "installed backstop in $(DESTDIR)$(BINDIR); try: man backstop"

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/backstop $(DESTDIR)$(MANDIR)/backstop.1 $(DESTDIR)$(BASHDIR)/backstop \
	      $(DESTDIR)$(ZSHDIR)/_backstop $(DESTDIR)$(FISHDIR)/backstop.fish $(DESTDIR)$(LIBDIR)/backstop_vfs.so
	-rmdir $(DESTDIR)$(LIBDIR) 2>/dev/null
	rm -f $(addprefix $(DESTDIR)$(DATADIR)/policies/,$(notdir $(wildcard policies/*.toml)))
	-rmdir $(DESTDIR)$(DATADIR)/policies $(DESTDIR)$(DATADIR) 2>/dev/null

clean:
	rm -rf .build
