#!/usr/bin/env bash
# Builds the go-control-plane peer (this Go module) into .cache/peer-gcp/bin/peer-gcp: tools/go-build.sh.
exec bash "$(dirname "${BASH_SOURCE[0]}")/../go-build.sh" "$(dirname "${BASH_SOURCE[0]}")"
