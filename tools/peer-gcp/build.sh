#!/usr/bin/env bash
# Builds the go-control-plane peer (this Go module) into .cache/peer-gcp/bin/peer-gcp (git-ignored).
# Idempotent: the stamp holds a hash of go.mod, go.sum, the sources and this script; when it matches and
# the binary is present, nothing is built (about 10 ms). Modules come from the Go module proxy (GOPROXY).
# Environment: GO (the go command; default: go on PATH, else /usr/local/go/bin/go).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
name="$(basename "$here")"
repo="$(cd "$here/../.." && pwd)"
out="$repo/.cache/$name/bin"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
if [ ! -x "$GO" ]; then echo "build.sh: no go toolchain found (set GO=/path/to/go)" >&2; exit 1; fi
export GOTOOLCHAIN=local GOFLAGS="-buildvcs=false"
key="$(cd "$here" && cat go.mod go.sum build.sh *.go | sha256sum | cut -d' ' -f1)"
if [ -x "$out/$name" ] && [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$key" ]; then exit 0; fi
mkdir -p "$out"
echo "building $name with $("$GO" env GOVERSION)" >&2
(cd "$here" && "$GO" build -mod=readonly -trimpath -ldflags "-s -w" -o "$out/.$name.tmp" .)
mv -f "$out/.$name.tmp" "$out/$name"
echo "$key" >"$out/.stamp"
