#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kubectl, etcd, and for the real node (lab/src/node)
# kubelet, kube-proxy and kube-scheduler, from the Go modules pinned in tools/kube/go.mod into
# .cache/kube/bin/ (git-ignored), then prints each binary's version. One
# validation rule is relaxed at build time so that loopback pod IPs can be endpoints (see below);
# .cache/kube/src holds the vendored build tree.
#
# Idempotent: a stamp file holds a hash of go.mod, go.sum, the main packages and this script; when it
# matches and every binary is present, nothing is built. Binaries are built into a temporary folder and
# moved into place only when all of them linked, so an interrupted build never leaves a half set.
#
# Environment: GO (the go command; default: go on PATH, else /usr/local/go/bin/go),
# KUBE_BUILD_PARALLEL (go build -p; default 2, which keeps peak memory near 3 GB on this machine kind).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="$repo/.cache/kube/bin"
stamp="$out/.stamp"
binaries=(kube-apiserver kube-controller-manager kubectl etcd kubelet kube-proxy kube-scheduler)

GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
if [ ! -x "$GO" ]; then echo "build.sh: no go toolchain found (set GO=/path/to/go)" >&2; exit 1; fi
export GOTOOLCHAIN=local GOFLAGS="-buildvcs=false"

key="$(cd "$here" && cat go.mod go.sum build.sh cmd/*/main.go | sha256sum | cut -d' ' -f1)"

have_all() {
  local b
  for b in "${binaries[@]}"; do [ -x "$out/$b" ] || return 1; done
}

print_versions() {
  echo "kube-apiserver:          $("$out/kube-apiserver" --version)"
  echo "kube-controller-manager: $("$out/kube-controller-manager" --version)"
  echo "kubectl:                 $("$out/kubectl" version --client 2>/dev/null | head -1)"
  echo "etcd:                    $("$out/etcd" --version | head -1)"
  echo "kubelet:                 $("$out/kubelet" --version)"
  echo "kube-proxy:              $("$out/kube-proxy" --version)"
  echo "kube-scheduler:          $("$out/kube-scheduler" --version)"
  echo "(in $out)"
}

if have_all && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$key" ]; then
  echo "kube binaries up to date ($(cut -c1-12 <<<"$key"))"
  print_versions
  exit 0
fi

cd "$here"
k8s_version="$("$GO" list -mod=readonly -m -f '{{.Version}}' k8s.io/kubernetes)"   # e.g. v1.36.3
minor="$(cut -d. -f2 <<<"$k8s_version")"
# The version variables that Kubernetes' own release build stamps (hack/lib/version.sh), so that
# --version, /version and kubectl's version skew check see the real release instead of v0.0.0-master.
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

mkdir -p "$out"
tmp="$(mktemp -d "$out/.build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# The one change the lab makes to Kubernetes. ValidateEndpointIP, which validates Endpoints and
# EndpointSlice addresses, rejects loopback addresses; lab pods get IPs in 127.1.0.0/16 (the only
# addresses this machine may send traffic to), so the lab apiserver must accept loopback endpoint
# addresses. Every other rule (unspecified, link-local, format) is unchanged. No Kubernetes source is
# kept in this repository: the modules are vendored into .cache/kube/src (go build -overlay refuses
# files in the module cache) and that one line is edited there; the build fails if it moved. Go's
# build cache keys dependents by export data, so the edit recompiles one package, not its dependents.
src="$repo/.cache/kube/src"
rm -rf "$src"
mkdir -p "$src"
cp -r "$here/go.mod" "$here/go.sum" "$here/cmd" "$src/"
(cd "$src" && "$GO" mod vendor)
validation="$src/vendor/k8s.io/kubernetes/pkg/apis/core/validation/validation.go"
sed -i -e 's|^\tif ip.IsLoopback() {$|\tif false \&\& ip.IsLoopback() { // herald lab: loopback pod IPs are valid endpoints|' "$validation"
if [ "$(grep -c 'if false && ip.IsLoopback()' "$validation")" != 1 ]; then
  echo "build.sh: the loopback check of ValidateEndpointIP was not found exactly once in $validation" >&2
  exit 1
fi

echo "building ${binaries[*]} (k8s.io/kubernetes $k8s_version) with $("$GO" env GOVERSION), -p ${KUBE_BUILD_PARALLEL:-2}"
echo "patched: ValidateEndpointIP accepts loopback endpoint addresses"
(cd "$src" && "$GO" build -mod=vendor -p "${KUBE_BUILD_PARALLEL:-2}" -trimpath -ldflags "$ldflags" -o "$tmp/" ./cmd/...)
for b in "${binaries[@]}"; do mv -f "$tmp/$b" "$out/$b"; done
echo "$key" >"$stamp"
print_versions
