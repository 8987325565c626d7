#!/usr/bin/env bash
# Lint, format check and the import layers (pyproject.toml: [tool.ruff], [tool.importlinter]),
# in the test virtualenv (set up as scripts/test.sh does). `--fix` formats and fixes instead.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test
if [[ "${1:-}" == "--fix" ]]; then
  .venv/bin/ruff check --fix .
  .venv/bin/ruff format .
else
  .venv/bin/ruff check .
  .venv/bin/ruff format --check .
fi
.venv/bin/lint-imports
