#!/usr/bin/env bash
# The compatibility matrix, for contributors: every supported MLflow (2.22.x, 3.1.x, the
# newest 3.x) on Python 3.10-3.13, plus a minimum-versions environment, each in its own
# virtualenv under .matrix/ (git-ignored), running the unit tests and the contract suite;
# prints a Markdown pass/fail table with test counts. Arguments go to scripts/matrix.py
# (--list, --only NAME[,NAME], --ref COMMIT, --write FILE, -- PYTEST_ARGS).
set -euo pipefail
cd "$(dirname "$0")/.."
tools=.matrix/tools
python="${PYTHON:-python3}"
if [[ ! -x "$tools/bin/uv" ]]; then
  rm -rf "$tools"
  "$python" -m venv "$tools"
  "$tools/bin/python" -m pip install -q 'uv>=0.5' 'tomli>=1.1; python_version < "3.11"'
fi
UV="$PWD/$tools/bin/uv" exec "$tools/bin/python" scripts/matrix.py "$@"
