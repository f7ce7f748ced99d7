/** Kubeconfig files and static-token files of a lab control plane. */
import { writeFileSync } from 'node:fs';

export interface TokenUser {
  token: string;
  user: string;
  uid: string;
  groups: string[];
}

/** Writes a --token-auth-file (CSV: token,user,uid,"group1,group2"). */
export function writeTokenFile(path: string, users: TokenUser[]): void {
  writeFileSync(path, users.map((u) => `${u.token},${u.user},${u.uid},"${u.groups.join(',')}"`).join('\n') + '\n', { mode: 0o600 });
}

/**
 * Writes a kubeconfig with one cluster, one user (bearer token) and one current context, all named
 * `name`. It is JSON, which kubectl and @kubernetes/client-node read as YAML.
 */
export function writeKubeconfig(path: string, opts: { name: string; server: string; caPem: string; token: string }): void {
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: opts.name, cluster: { server: opts.server, 'certificate-authority-data': Buffer.from(opts.caPem).toString('base64') } }],
    users: [{ name: opts.name, user: { token: opts.token } }],
    contexts: [{ name: opts.name, context: { cluster: opts.name, user: opts.name, namespace: 'default' } }],
    'current-context': opts.name,
    preferences: {},
  };
  writeFileSync(path, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 });
}
