#!/usr/bin/env bash
# The full fault-injection campaign (opt-in, ~30-60 min on 2 cores): dedicated SeaweedFS,
# sshd, pyftpdlib and Azurite servers are SIGKILLed and SIGSTOPped in the middle of 200-file
# uploads, 256 MiB uploads and directory downloads (>= 200 faults). Prints and writes the
# summary (faults per backend, failures reported, bytes lost, partial objects left).
# Knobs: ARTIFACT_FS_FAULTS_ROUNDS (9), ARTIFACT_FS_FAULTS_BIG_MIB (256),
# ARTIFACT_FS_FAULTS_BACKENDS (all), ARTIFACT_FS_FAULTS_SUMMARY (path of the JSON summary).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test
for server in sftp ftp azure; do
  bash "scripts/install-$server.sh"
done
export ARTIFACT_FS_FAULTS_SUMMARY="${ARTIFACT_FS_FAULTS_SUMMARY:-$PWD/faults-summary.json}"
exec .venv/bin/python -m pytest tests/faults_campaign.py -m faults -s -q --basetemp="$PWD/.pytest-faults" "$@"
