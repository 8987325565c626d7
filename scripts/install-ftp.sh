#!/usr/bin/env bash
# Installs the FTP tests' server: pyftpdlib from PyPI, into .cache/pyftpdlib (a --target
# directory the tests put on PYTHONPATH when they run `python -m pyftpdlib`), so it does
# not depend on which extras .venv has. Idempotent, and instant when already installed.
set -euo pipefail
cd "$(dirname "$0")/.."
version="${PYFTPDLIB_VERSION:-2.2.0}"
dest=.cache/pyftpdlib
if [[ -f "$dest/.version-$version" && -f "$dest/pyftpdlib/__main__.py" ]]; then
  exit 0
fi
# The interpreter the tests run with (its version picks pyftpdlib's dependencies).
python="${PYTHON:-}"
if [[ -z "$python" ]]; then
  if [[ -x .venv/bin/python ]]; then python=.venv/bin/python; else python=python3; fi
fi
if ! "$python" -m pip --version >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq python3-pip >/dev/null
  python=python3
fi
rm -rf "$dest"
"$python" -m pip install -q --disable-pip-version-check --no-compile --target "$dest" "pyftpdlib==$version"
PYTHONPATH="$dest" "$python" -c 'import pyftpdlib.servers' \
  || { echo "pyftpdlib in $dest does not import" >&2; exit 1; }
touch "$dest/.version-$version"
echo "pyftpdlib $version installed in $dest"
