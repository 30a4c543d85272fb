#!/usr/bin/env bash
# Creates (or updates) the private Python environment the tests use: .build/test-venv.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.build/test-venv
requirements=Tests/tools/requirements.txt
stamp="$venv/.requirements"
if [[ -x "$venv/bin/python" ]] && cmp -s "$requirements" "$stamp"; then exit 0; fi
mkdir -p .build
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet -r "$requirements"
cp "$requirements" "$stamp"
echo "test tools installed in $venv"
