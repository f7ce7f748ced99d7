/** Where the lab finds the Kubernetes binaries that `make kube` (tools/kube/build.sh) builds. */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

export const KUBE_BINARIES = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kubectl'] as const;
export type KubeBinary = (typeof KUBE_BINARIES)[number];

/** The repository root: the nearest ancestor of this file that holds tools/kube/build.sh. */
export function repoRoot(): string {
  let dir = __dirname;
  for (;;) {
    if (existsSync(join(dir, 'tools', 'kube', 'build.sh'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no repository root (tools/kube/build.sh) above ${__dirname}`);
    dir = parent;
  }
}

/** The folder of the binaries: $HERALD_KUBE_BIN, else <repo>/.cache/kube/bin. */
export function kubeBinDir(): string {
  return process.env['HERALD_KUBE_BIN'] ? resolve(process.env['HERALD_KUBE_BIN']) : join(repoRoot(), '.cache', 'kube', 'bin');
}

/** Absolute path of one binary; throws, naming `make kube`, when it has not been built. */
export function kubeBinary(name: KubeBinary): string {
  const path = join(kubeBinDir(), name);
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`make kube\` (bash tools/kube/build.sh) first`);
  return path;
}

/** True when every binary the lab needs is present. */
export function kubeBinariesPresent(): boolean {
  return KUBE_BINARIES.every((b) => existsSync(join(kubeBinDir(), b)));
}
