#!/usr/bin/env bash
# The project's one test command (README "Tests"; .ci/run calls exactly this).
#
# On a fresh Debian-like machine with Python 3.11+ (as root, or a user with sudo) it
# installs what the tests need and is missing, says what and where, and runs the suite:
#   - Debian packages: redis-server, mosquitto, GStreamer's RTSP server (.ci/apt-packages.txt), node/npm;
#   - s3rver (npm), the S3 store behind the broker-restart test, into $VIGIL_TEST_CACHE/node;
#   - the Milvus server (PyPI `milvus`, ~480 MB) for its test, into $VIGIL_TEST_CACHE/venv-milvus;
#   - the project itself with its dev extras, into .venv (override with VIGIL_VENV).
# Nothing is installed inside the repository except .venv. Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

export VIGIL_TEST_CACHE="${VIGIL_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vigil-tests}"
VENV="${VIGIL_VENV:-.venv}"
mkdir -p "$VIGIL_TEST_CACHE"

say() { echo "== $*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

packages=(redis-server mosquitto $(grep -v '^#' .ci/apt-packages.txt))
command -v npm >/dev/null || packages+=(npm)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x "$VIGIL_TEST_CACHE/node/node_modules/.bin/s3rver" ]; then
  say "installing s3rver 3.7.1 (npm) into $VIGIL_TEST_CACHE/node"
  npm install --prefix "$VIGIL_TEST_CACHE/node" --no-audit --no-fund s3rver@3.7.1 >/dev/null
fi

if [ ! -x "$VIGIL_TEST_CACHE/venv-milvus/bin/milvus-server" ]; then
  say "installing the Milvus server (.ci/milvus-requirements.txt) into $VIGIL_TEST_CACHE/venv-milvus"
  python3 -m venv "$VIGIL_TEST_CACHE/venv-milvus"
  "$VIGIL_TEST_CACHE/venv-milvus/bin/python" -m pip install -q -r .ci/milvus-requirements.txt
fi

say "python environment in $VENV"
python3 -m venv "$VENV"
. "$VENV/bin/activate"
python -m pip install -q --upgrade pip
python -m pip install -q -e ".[dev]"
python -m pip check

say "lint"
ruff check .
bash tools/lint.sh  # import contracts: layers point down (docs/architecture.md)

say "tests"
# Tests start their own Redis, Celery workers and Kafka-protocol broker on free ports.
export OMP_NUM_THREADS=1
# The slowest tests are listed at the end: the whole run must stay well under 30 minutes.
python -m pytest -q -p no:cacheprovider --durations=15 "$@"
