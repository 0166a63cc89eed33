#!/usr/bin/env bash
# Create/refresh .venv with xcptui installed (editable). Usage: scripts/venv.sh [test]
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
extra=""
[[ ${1:-} == test ]] && extra="[test]"
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".${extra}"
