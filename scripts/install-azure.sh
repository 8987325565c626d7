#!/usr/bin/env bash
# Installs the Azure test server: Azurite (npm), pinned to 3.35.0 (3.36+ needs Node 22),
# into .cache/node/node_modules/.bin/azurite-blob. Node.js and npm come from Debian when
# missing (Debian 12 ships Node 18; azurite 3.35.0 declares Node >= 10). Idempotent and fast when
# everything is present. Run as root on Debian 12 (root only to install Node.js).
set -euo pipefail
cd "$(dirname "$0")/.."
version="${AZURITE_VERSION:-3.35.0}"
dest=.cache/node
binary="$dest/node_modules/.bin/azurite-blob"

installed_version() {
  node -p "require('./$dest/node_modules/azurite/package.json').version" 2>/dev/null || true
}

missing=()
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if ((${#missing[@]})); then
  if [[ "$(id -u)" -ne 0 ]]; then
    echo "install-azure.sh: ${missing[*]} missing and installing needs root" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

node_major=$(node -p 'process.versions.node.split(".")[0]')
if ((node_major < 18)); then
  echo "install-azure.sh: azurite $version needs Node.js >= 18, found $(node --version)" >&2
  exit 1
fi

if [[ -x "$binary" && "$(installed_version)" == "$version" ]]; then
  exit 0
fi
mkdir -p "$dest"
[[ -f "$dest/package.json" ]] || echo '{"private": true}' >"$dest/package.json"
(cd "$dest" && npm install --save-exact --no-audit --no-fund --loglevel=error "azurite@$version")
[[ "$(installed_version)" == "$version" ]] || { echo "azurite $version did not install" >&2; exit 1; }
"$binary" --help >/dev/null 2>&1 || { echo "azurite-blob at $binary does not run" >&2; exit 1; }
echo "azurite $version installed at $binary"
