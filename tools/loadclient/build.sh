#!/usr/bin/env bash
# Builds the benchmark load client (this Go module) into .cache/loadclient/bin/loadclient: tools/go-build.sh.
exec bash "$(dirname "${BASH_SOURCE[0]}")/../go-build.sh" "$(dirname "${BASH_SOURCE[0]}")"
