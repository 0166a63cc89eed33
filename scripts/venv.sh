#!/usr/bin/env bash
# Create/refresh .venv with xcptui installed (editable). Usage: scripts/venv.sh [test]
# pip runs only when the venv is missing or pyproject.toml changed since the last install
# (its hash, with the extras, is recorded in .venv/.xcptui-installed): a second start is fast.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
extra=""
[[ ${1:-} == test ]] && extra="[test]"
stamp=.venv/.xcptui-installed
want="$(sha256sum pyproject.toml | cut -d' ' -f1) ${extra:-[]}"
have=$(cat "$stamp" 2>/dev/null || true)
# an install with [test] also serves a plain one
if [[ -x .venv/bin/xcptui && ( $have == "$want" || ( -z $extra && $have == "${want% *} [test]" ) ) ]]; then
  exit 0
fi
rm -f "$stamp"
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".${extra}"
echo "$want" > "$stamp"
