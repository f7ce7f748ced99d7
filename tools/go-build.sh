#!/usr/bin/env bash
# Builds one of the benchmark's Go modules (tools/<name>) into .cache/<name>/bin/<name> (git-ignored).
#   tools/go-build.sh tools/loadclient
# Idempotent: the stamp holds a hash of go.mod, go.sum, the sources and this script; when it matches and
# the binary is present, nothing is built (about 10 ms). Modules come from the Go module proxy (GOPROXY).
# Environment: GO (the go command; default: go on PATH, else /usr/local/go/bin/go).
set -euo pipefail
self="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
here="$(cd "$1" && pwd)"
name="$(basename "$here")"
repo="$(cd "$here/../.." && pwd)"
out="$repo/.cache/$name/bin"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
if [ ! -x "$GO" ]; then echo "go-build.sh: no go toolchain found (set GO=/path/to/go)" >&2; exit 1; fi
export GOTOOLCHAIN=local GOFLAGS="-buildvcs=false"
key="$( (cd "$here" && cat go.mod go.sum *.go; cat "$self") | sha256sum | cut -d' ' -f1)"
if [ -x "$out/$name" ] && [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$key" ]; then exit 0; fi
mkdir -p "$out"
echo "building $name with $("$GO" env GOVERSION)" >&2
(cd "$here" && "$GO" build -mod=readonly -trimpath -ldflags "-s -w" -o "$out/.$name.tmp" .)
mv -f "$out/.$name.tmp" "$out/$name"
echo "$key" >"$out/.stamp"
