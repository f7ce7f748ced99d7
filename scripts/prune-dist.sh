#!/usr/bin/env bash
# Removes compiled files in dist/ whose TypeScript source is gone (moved or deleted), so that a stale test never
# runs and dist/src holds only the product. Run by `make build` after compiling.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d dist ] || exit 0
find dist \( -name '*.js' -o -name '*.js.map' \) -print0 | while IFS= read -r -d '' f; do
  rel="${f#dist/}"
  rel="${rel%.map}"
  [ -e "${rel%.js}.ts" ] || rm -f -- "$f"
done
find dist -mindepth 1 -type d -empty -delete
