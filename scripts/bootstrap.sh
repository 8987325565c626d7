#!/usr/bin/env bash
# Creates .venv (if missing) and installs artifact_fs in it with the extras named in $1
# (default: demo). Idempotent; everything comes from PyPI, nothing else is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-demo}"
python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "artifact_fs needs Python >= 3.10 (set PYTHON=/path/to/python3.x)" >&2
  exit 2
fi
if [[ ! -x .venv/bin/python ]]; then
  "$python" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
stamp=".venv/.installed-$extras-$(cat pyproject.toml scripts/constraints.txt | cksum | cut -d' ' -f1)"
if [[ ! -f "$stamp" ]]; then
  # within the tested versions (scripts/constraints.txt): reproducible, and quick to resolve
  .venv/bin/python -m pip install -q -c scripts/constraints.txt -e ".[$extras]"
  touch "$stamp"
fi
