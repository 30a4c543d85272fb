#!/usr/bin/env bash
# Creates (or updates) a private Python environment: .build/test-venv from Tests/tools/requirements.txt
# (the tests' tools), or VENV from REQUIREMENTS (make bench: .build/bench-venv from bench/requirements.txt).
#   scripts/test-venv.sh [VENV REQUIREMENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-.build/test-venv}
requirements=${2:-Tests/tools/requirements.txt}
stamp="$venv/.requirements"
if [[ -x "$venv/bin/python" ]] && cmp -s "$requirements" "$stamp"; then exit 0; fi
mkdir -p .build
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet -r "$requirements"
cp "$requirements" "$stamp"
echo "tools installed in $venv"
