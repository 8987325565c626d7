#!/usr/bin/env bash
# The main job on the embedded default (a local store): sets up .venv, then logs an MLflow
# run's artifacts through artifact_fs, lists them and reads the Parquet table back.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh demo
rm -rf demo-output
exec .venv/bin/python examples/quickstart.py demo-output
