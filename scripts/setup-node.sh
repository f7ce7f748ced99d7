#!/usr/bin/env bash
# Installs what the real node (lab/src/node) needs from Debian's packages: containerd, runc, the CNI
# plugins, iptables (the kubelet, kube-proxy and the bridge plugin's masquerade rule use it; every rule
# lives in the node's own network namespace). Idempotent: packages already installed are not fetched
# again. Prints what is missing and exits 0 when it cannot install (not root, no apt-get): the real-node
# test then skips and says why. Nothing is started or enabled here; the harness starts containerd itself.
set -euo pipefail
packages=(containerd runc containernetworking-plugins iptables)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "node packages present: ${packages[*]}"
elif [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "setup-node.sh: cannot install ${missing[*]} (needs root and apt-get); the real-node test will skip" >&2
  exit 0
else
  echo "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # policy-rc.d: a package's maintainer script must not start containerd (there is no init system here,
  # and the harness runs containerd with its own root, state and socket).
  prc=/usr/sbin/policy-rc.d; made_prc=0
  if [ ! -e "$prc" ]; then printf '#!/bin/sh\nexit 101\n' >"$prc"; chmod +x "$prc"; made_prc=1; fi
  trap '[ "$made_prc" = 1 ] && rm -f "$prc"' EXIT
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null || {
    apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }
fi
echo "containerd: $(containerd --version | cut -d' ' -f3) runc: $(runc --version | head -1 | cut -d' ' -f3)" \
  "cni: $(ls /usr/lib/cni | tr '\n' ' ')"
