#!/usr/bin/env bash
# `make install` and `make uninstall`, as a packager would run them: into a temporary prefix, with a
# stand-in apt-get that fails loudly (installing never installs system packages; only `make deps` does).
# Run by `make test`; CONFIG=debug reuses the test build.
set -euo pipefail
cd "$(dirname "$0")/../.."
config=${CONFIG:-debug}
work=$(mktemp -d "${TMPDIR:-/tmp}/backstop-install-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/stubs"
printf '#!/bin/sh\necho "apt-get was run: $*" >> %s/apt-get.log\nexit 1\n' "$work" > "$work/stubs/apt-get"
chmod +x "$work/stubs/apt-get"
prefix="$work/prefix"
fail() { echo "install test: $*" >&2; exit 1; }

PATH="$work/stubs:$PATH" make --no-print-directory install PREFIX="$prefix" CONFIG="$config" > "$work/install.log" 2>&1 \
    || { cat "$work/install.log" >&2; fail "make install failed"; }
[[ ! -e "$work/apt-get.log" ]] || fail "make install ran apt-get: $(cat "$work/apt-get.log")"

expected=(bin/backstop lib/backstop/backstop_vfs.so share/man/man1/backstop.1 share/bash-completion/completions/backstop
          share/zsh/site-functions/_backstop share/fish/vendor_completions.d/backstop.fish
          share/backstop/policies/default.toml share/backstop/policies/hourly-cron.toml share/backstop/policies/compliance.toml)
for file in "${expected[@]}"; do [[ -f "$prefix/$file" ]] || fail "missing $file"; done
[[ -x "$prefix/bin/backstop" ]] || fail "bin/backstop is not executable"
"$prefix/bin/backstop" --version > /dev/null || fail "the installed binary does not run"

# The man page is generated from the command definitions: every subcommand is in it.
grep -q '^\.Dt BACKSTOP 1' "$prefix/share/man/man1/backstop.1" || fail "the man page has no BACKSTOP(1) header"
for command in snapshot list show verify restore adopt journal status check migrate history rollback down baseline repair new prune pin unpin policy diff recover; do
    grep -q "$command" "$prefix/share/man/man1/backstop.1" || fail "the man page does not mention $command"
done
if command -v man > /dev/null; then
    MANPATH="$prefix/share/man" man -w backstop > /dev/null || fail "man cannot find the page under the prefix"
fi

# Completions: bash loads and registers them; zsh and fish files name the subcommands.
bash -c "source '$prefix/share/bash-completion/completions/backstop' && complete -p backstop" > /dev/null \
    || fail "the bash completion does not register"
grep -q 'snapshot' "$prefix/share/zsh/site-functions/_backstop" || fail "the zsh completion names no subcommand"
grep -q 'snapshot' "$prefix/share/fish/vendor_completions.d/backstop.fish" || fail "the fish completion names no subcommand"

# The snapshot VFS as an extension: the sqlite3 shell reads a snapshot in place.
sqlite3 "$work/app.db" "CREATE TABLE t(x); INSERT INTO t VALUES (1), (2), (3);"
id=$("$prefix/bin/backstop" snapshot --db "$work/app.db" --store "$work/store" 2>/dev/null)
count=$(sqlite3 -cmd ".load $prefix/lib/backstop/backstop_vfs" -cmd ".open file:$work/store/$id.sqlite.gz?vfs=backstop" :memory: "SELECT count(*) FROM t")
[[ "$count" == "3" ]] || fail "the installed extension did not read the snapshot (got '$count')"

make --no-print-directory uninstall PREFIX="$prefix" > "$work/uninstall.log" 2>&1 || { cat "$work/uninstall.log" >&2; fail "make uninstall failed"; }
left=$(find "$prefix" -type f | sed "s|^$prefix/||")
[[ -z "$left" ]] || fail "make uninstall left: $left"
echo "install test: make install and make uninstall are complete and clean"
