#!/usr/bin/env bash
# Writes dist/src/xds/envoy-descriptor.json: the part of Envoy's API Herald uses, pre-built from the pinned
# .proto files of @grpc/grpc-js-xds (src/xds/descriptor.ts), so a start loads JSON instead of parsing protos.
# Run by `make build` and `make product` after compiling; never committed. Without it Herald parses the protos.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/src/xds/descriptor.js ] || { echo "build-descriptor: dist/src is missing: compile first" >&2; exit 1; }
node -e '
const { parseProtos } = require("./dist/src/xds/protos");
const { writeDescriptor } = require("./dist/src/xds/descriptor");
const file = writeDescriptor(parseProtos(), "dist/src/xds");
console.log(`build-descriptor: ${file} (${require("fs").statSync(file).size} bytes)`);
'
