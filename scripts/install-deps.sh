#!/usr/bin/env bash
# Installs the Debian packages named on the command line that are missing.
# As root it runs apt-get; otherwise it prints the exact command and fails.
# With --check, it never installs: it only says what is missing and how to install it.
set -euo pipefail
check=false
if [[ "${1:-}" == "--check" ]]; then check=true; shift; fi
missing=()
for package in "$@"; do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || missing+=("$package")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
if [[ $check == false && $(id -u) -eq 0 ]]; then
    echo "installing missing packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
    echo "missing Debian packages: ${missing[*]}" >&2
    echo "install them with: make deps (as root), or: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi
