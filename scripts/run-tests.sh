#!/usr/bin/env bash
# Runs every compiled test file with node's test runner: the product's (dist/test) and the lab's (dist/lab/test).
# TEST_FILTER narrows the set by path substring.
set -euo pipefail
cd "$(dirname "$0")/.."
# A test file moved or deleted since the last build must not run from a stale dist/.
bash scripts/prune-dist.sh
mapfile -t files < <(find dist/test dist/lab/test -name '*.test.js' | sort | grep -- "${TEST_FILTER:-}")
if [ "${#files[@]}" -eq 0 ]; then echo "no test files found" >&2; exit 1; fi
export HERALD_LOG_LEVEL="${HERALD_LOG_LEVEL:-warn}"
# --test-force-exit: a file whose tests are done but that leaks a handle must not hang CI; --test-timeout bounds any one test.
exec node --test --test-concurrency=1 --test-force-exit --test-timeout=300000 --test-reporter=spec "${files[@]}"
