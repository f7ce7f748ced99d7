#!/usr/bin/env bash
# Builds the images the real node runs, without a registry, as OCI image archives in .cache/images/:
#
#   herald.oci.tar        docker.io/library/herald:0.1.0        Node.js runtime + dist/src + production node_modules
#   herald-envoy.oci.tar  docker.io/library/herald-envoy:1.40.0  the pinned Envoy binary (.venv) + bash, head, sleep
#   herald-echo.oci.tar   docker.io/library/herald-echo:0.1.0    images/echo (the example app; Go standard library only)
#   herald-lab-backend.oci.tar  docker.io/library/herald-lab-backend:0.1.0  the lab backend (dist/lab/src/backend) for `herald lab --node real`
#   pause.oci.tar         localhost/herald/pause:3.10            build/pause/linux/pause.c of k8s.io/kubernetes, gcc -static
#
# Each file of an image comes from this machine: the node and Envoy binaries with the shared libraries
# `ldd` names, Debian's bash and coreutils, the repository's compiled dist/src and the production part of
# node_modules (`npm ls --omit=dev`). Nothing is downloaded. Layers are plain tars with sorted names, mtime 0, uid/gid 0 (files) and no
# atime/ctime, so the same inputs give the same digests; `sha256sum` names every blob. The Containerfiles
# next to this script produce the same file layout for users who build with a registry.
#
# Images run as non-root (herald 65532, envoy 101, echo 65532, lab backend 65532) and need no writable root
# filesystem. Prints each image's name, digest and size. Idempotent: an image whose inputs are unchanged
# (a hash of its input files' contents and this script) is not rebuilt.
#
# Usage: images/build.sh [--out DIR] [herald|herald-envoy|herald-echo|herald-lab-backend|pause ...]   (default: all five)
# Needs: tar, sha256sum, gcc + libc6-dev (static), go (echo, pause source), node, npm; dist/ built (npx tsc).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
out="$repo/.cache/images"
if [ "${1:-}" = "--out" ]; then out="$2"; shift 2; fi
wanted=("$@")
[ "${#wanted[@]}" -gt 0 ] || wanted=(herald herald-envoy herald-echo herald-lab-backend pause)
mkdir -p "$out"
export GOTOOLCHAIN=local GOFLAGS="-buildvcs=false"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
TAR=(tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu)

# Copies a dynamically linked executable and the libraries it loads into rootfs $1 at path $3.
add_binary() {
  local root="$1" src="$2" dest="$3" lib
  install -D -m 0755 "$src" "$root$dest"
  for lib in $(ldd "$src" | awk '/=> \//{print $3} /^[ \t]*\//{print $1}'); do
    [ -e "$root$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
  done
}

# /etc/passwd, /etc/group with root and the image's user; /tmp is not needed (read-only root fs).
add_users() {
  local root="$1" uid="$2" name="$3"
  mkdir -p "$root/etc"
  printf 'root:x:0:0:root:/root:/sbin/nologin\n%s:x:%s:%s:%s:/nonexistent:/sbin/nologin\n' "$name" "$uid" "$uid" "$name" >"$root/etc/passwd"
  printf 'root:x:0:\n%s:x:%s:\n' "$name" "$uid" >"$root/etc/group"
}

# Writes a blob (file $2) into the OCI layout $1 and prints "sha256:<hex> <size>".
put_blob() {
  local layout="$1" file="$2" hex size
  hex="$(sha256sum "$file" | cut -d' ' -f1)"
  size="$(stat -c %s "$file")"
  mkdir -p "$layout/blobs/sha256"
  mv -f "$file" "$layout/blobs/sha256/$hex"
  echo "sha256:$hex $size"
}

# make_image NAME REF USER ENTRYPOINT_JSON CMD_JSON WORKDIR ROOTFS...  (one layer per rootfs folder)
make_image() {
  local name="$1" ref="$2" user="$3" entrypoint="$4" cmd="$5" workdir="$6"; shift 6
  local layout="$out/.$name.layout" diff_ids=() layers=() total=0 root digest size
  rm -rf "$layout"; mkdir -p "$layout"
  for root in "$@"; do
    "${TAR[@]}" -C "$root" -cf "$layout/layer.tar" .
    read -r digest size < <(put_blob "$layout" "$layout/layer.tar")
    diff_ids+=("\"$digest\"")
    layers+=("{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"$digest\",\"size\":$size}")
    total=$((total + size))
  done
  local config="{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":\"1970-01-01T00:00:00Z\",\"config\":{\"User\":\"$user\",\"Entrypoint\":$entrypoint,\"Cmd\":$cmd,\"WorkingDir\":\"$workdir\",\"Env\":[\"PATH=/usr/local/bin:/usr/bin:/bin\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[$(IFS=,; echo "${diff_ids[*]}")]}}"
  printf '%s' "$config" >"$layout/config.json"
  local cdigest csize
  read -r cdigest csize < <(put_blob "$layout" "$layout/config.json")
  local manifest="{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"$cdigest\",\"size\":$csize},\"layers\":[$(IFS=,; echo "${layers[*]}")]}"
  printf '%s' "$manifest" >"$layout/manifest.json"
  local mdigest msize
  read -r mdigest msize < <(put_blob "$layout" "$layout/manifest.json")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "$mdigest" "$msize" "$ref" "${ref##*:}" >"$layout/index.json"
  printf '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
  "${TAR[@]}" -C "$layout" -cf "$out/$name.oci.tar.tmp" oci-layout index.json blobs
  mv -f "$out/$name.oci.tar.tmp" "$out/$name.oci.tar"
  (cd "$out" && sha256sum "$name.oci.tar" >"$name.oci.tar.sha256")
  echo "$ref" >"$out/$name.ref"
  rm -rf "$layout"
  printf '%-13s %-42s %s  %6.1f MB\n' "$name" "$ref" "${mdigest:0:19}" "$(echo "$total" | awk '{print $1/1e6}')"
}

# Hash of an image's inputs (every file's path and content) and this script.
inputs_key() { { cat "${BASH_SOURCE[0]}"; find -L "$@" -type f -print0 2>/dev/null | sort -z | xargs -0 sha256sum; } | sha256sum | cut -d' ' -f1; }
fresh() { [ -f "$out/$1.oci.tar" ] && [ -f "$out/$1.key" ] && [ "$(cat "$out/$1.key")" = "$2" ]; }
report_fresh() { printf '%-13s %-42s (up to date)  %6.1f MB\n' "$1" "$(cat "$out/$1.ref")" "$(stat -c %s "$out/$1.oci.tar" | awk '{print $1/1e6}')"; }

build_herald() {
  [ -f "$repo/dist/src/cli/main.js" ] || { echo "images/build.sh: dist/src is missing: run npx tsc -p tsconfig.json" >&2; exit 1; }
  local node; node="$(readlink -f "$(command -v node)")"
  mapfile -t mods < <(cd "$repo" && npm ls --omit=dev --parseable --all 2>/dev/null | grep '/node_modules/' | sort -u)
  local key; key="$(inputs_key "$node" "$repo/dist/src" "$repo/package-lock.json")"
  if fresh herald "$key"; then report_fresh herald; return; fi
  local stage="$out/.herald.stage"; rm -rf "$stage"; mkdir -p "$stage/runtime" "$stage/app/app"
  add_binary "$stage/runtime" "$node" /usr/local/bin/node
  add_users "$stage/runtime" 65532 herald
  mkdir -p "$stage/app/app/dist"; cp -r "$repo/dist/src" "$stage/app/app/dist/src"
  cp "$repo/package.json" "$stage/app/app/"
  local m rel
  for m in "${mods[@]}"; do
    rel="${m#"$repo/"}"
    mkdir -p "$stage/app/app/$rel"
    # Each package's own files; its nested node_modules come as their own entries of the list.
    tar -C "$m" --exclude=./node_modules -cf - . | tar -C "$stage/app/app/$rel" -xf -
  done
  # better-sqlite3's native addon: keep only the built module, not its C sources and build tree.
  find "$stage/app/app/node_modules/better-sqlite3" -mindepth 1 -maxdepth 1 ! -name build ! -name lib ! -name package.json -exec rm -rf {} +
  find "$stage/app/app/node_modules/better-sqlite3/build" -mindepth 1 -maxdepth 2 ! -path '*/Release' ! -name better_sqlite3.node -exec rm -rf {} + 2>/dev/null || true
  make_image herald docker.io/library/herald:0.1.0 65532:65532 '["/usr/local/bin/node","/app/dist/src/cli/main.js"]' '["--help"]' /app \
    "$stage/runtime" "$stage/app"
  echo "$key" >"$out/herald.key"; rm -rf "$stage"
}

# The lab backend: the same runtime layer as herald (so containerd stores it once), then the compiled backend and
# the packages it loads (@grpc/grpc-js and what that depends on, found as Node resolves them), at their paths.
build_lab_backend() {
  [ -f "$repo/dist/lab/src/backend/main.js" ] || { echo "images/build.sh: dist/lab is missing: run npx tsc -p tsconfig.json" >&2; exit 1; }
  local node; node="$(readlink -f "$(command -v node)")"
  local key; key="$(inputs_key "$node" "$repo/dist/lab/src/backend" "$repo/package-lock.json")"
  if fresh herald-lab-backend "$key"; then report_fresh herald-lab-backend; return; fi
  mapfile -t mods < <(node -e '
    const fs = require("fs"), path = require("path");
    const root = process.argv[1];
    const find = (name, from) => {
      for (let d = from; ; d = path.dirname(d)) {
        const p = path.join(d, "node_modules", name);
        if (fs.existsSync(path.join(p, "package.json"))) return p;
        if (d === root || path.dirname(d) === d) return undefined;
      }
    };
    const seen = new Set();
    const walk = (dir) => {
      if (seen.has(dir)) return;
      seen.add(dir);
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
      const optional = pkg.optionalDependencies || {};
      for (const n of Object.keys({ ...pkg.dependencies, ...optional })) {
        const d = find(n, dir);
        if (d) walk(d);
        else if (!(n in optional)) throw new Error(`${n}, needed by ${path.relative(root, dir)}, is not installed`);
      }
    };
    walk(find("@grpc/grpc-js", path.join(root, "dist/lab/src/backend")));
    process.stdout.write([...seen].map((d) => path.relative(root, d)).sort().join("\n") + "\n");
  ' "$repo")
  local stage="$out/.lab-backend.stage"; rm -rf "$stage"; mkdir -p "$stage/runtime" "$stage/app/app/dist/lab/src"
  add_binary "$stage/runtime" "$node" /usr/local/bin/node
  add_users "$stage/runtime" 65532 herald
  cp -r "$repo/dist/lab/src/backend" "$stage/app/app/dist/lab/src/backend"
  find "$stage/app/app/dist" -name '*.map' -delete
  local m
  for m in "${mods[@]}"; do
    mkdir -p "$stage/app/app/$m"
    tar -C "$repo/$m" --exclude=./node_modules -cf - . | tar -C "$stage/app/app/$m" -xf -
  done
  make_image herald-lab-backend docker.io/library/herald-lab-backend:0.1.0 65532:65532 '["/usr/local/bin/node","/app/dist/lab/src/backend/main.js"]' '[]' /app \
    "$stage/runtime" "$stage/app"
  echo "$key" >"$out/herald-lab-backend.key"; rm -rf "$stage"
}

build_envoy() {
  local envoy; envoy="$(cat "$repo/.venv/envoy-path" 2>/dev/null || true)"
  [ -x "$envoy" ] || { echo "images/build.sh: the pinned Envoy is missing: run make envoy" >&2; exit 1; }
  local version; version="$("$envoy" --version | sed -n 's|.*/\([0-9.]*\)/.*|\1|p')"
  local key; key="$(inputs_key "$envoy" /bin/bash /usr/bin/head /usr/bin/sleep)"
  if fresh herald-envoy "$key"; then report_fresh herald-envoy; return; fi
  local root="$out/.envoy.stage"; rm -rf "$root"
  add_binary "$root" "$envoy" /usr/local/bin/envoy
  # The sidecar's preStop (deploy/example/web.yaml) is plain bash with /dev/tcp, head and sleep.
  add_binary "$root" /bin/bash /bin/bash
  add_binary "$root" /usr/bin/head /usr/bin/head
  add_binary "$root" /usr/bin/sleep /usr/bin/sleep
  add_users "$root" 101 envoy
  make_image herald-envoy "docker.io/library/herald-envoy:$version" 101:101 '["/usr/local/bin/envoy"]' '["--help"]' / "$root"
  echo "$key" >"$out/herald-envoy.key"; rm -rf "$root"
}

build_echo() {
  local key; key="$(inputs_key "$GO" "$here/echo")"
  if fresh herald-echo "$key"; then report_fresh herald-echo; return; fi
  local root="$out/.echo.stage"; rm -rf "$root"; mkdir -p "$root"
  (cd "$here/echo" && CGO_ENABLED=0 "$GO" build -trimpath -ldflags "-s -w" -o "$root/echo" .)
  add_users "$root" 65532 nonroot
  make_image herald-echo docker.io/library/herald-echo:0.1.0 65532:65532 '["/echo"]' '[]' / "$root"
  echo "$key" >"$out/herald-echo.key"; rm -rf "$root"
}

build_pause() {
  local kdir; kdir="$(cd "$repo/tools/kube" && "$GO" list -mod=readonly -m -f '{{.Dir}}' k8s.io/kubernetes)"
  local src="$kdir/build/pause/linux/pause.c"
  [ -f "$src" ] || (cd "$repo/tools/kube" && "$GO" mod download k8s.io/kubernetes)
  local key; key="$(inputs_key "$src" "$(command -v gcc)")"
  if fresh pause "$key"; then report_fresh pause; return; fi
  local root="$out/.pause.stage"; rm -rf "$root"; mkdir -p "$root"
  gcc -Os -static -DVERSION=v3.10-herald -o "$root/pause" "$src"
  strip "$root/pause"
  make_image pause localhost/herald/pause:3.10 65535:65535 '["/pause"]' '[]' / "$root"
  echo "$key" >"$out/pause.key"; rm -rf "$root"
}

for w in "${wanted[@]}"; do
  case "$w" in
    herald) build_herald ;;
    herald-envoy) build_envoy ;;
    herald-echo) build_echo ;;
    herald-lab-backend) build_lab_backend ;;
    pause) build_pause ;;
    *) echo "images/build.sh: unknown image $w" >&2; exit 2 ;;
  esac
done
