/**
 * Builds the informers' transport from a kubeconfig as kubectl reads it, through client-node's KubeConfig: a file,
 * else $KUBECONFIG, ~/.kube/config or the in-cluster service account. KubeConfig supplies, before every request,
 * the TLS material (`certificate-authority[-data]`, `insecure-skip-tls-verify`, `tls-server-name`, client
 * certificates from files or data) and the authentication (bearer token, `tokenFile` and the in-cluster token
 * re-read at most every 60 s so rotation is picked up, exec plugins with their cached credentials, basic auth,
 * impersonation). Herald's own informer and read-only client do the rest (client-node's ListWatch is not used).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type https from 'node:https';
import { KubeConfig, type User } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { KubeClient, type KubeAuth, type KubeTls } from './client';

/** Loads the kubeconfig (a path, or the default chain when empty). Throws naming the file when unusable. */
export function loadKubeConfig(kubeconfigPath: string): KubeConfig {
  const kc = new KubeConfig();
  const where = kubeconfigPath || '(default)';
  try {
    if (kubeconfigPath) kc.loadFromFile(kubeconfigPath);
    else kc.loadFromDefault();
  } catch (err) {
    throw new Error(`kubeconfig ${where}: ${(err as Error).message}`);
  }
  if (!kc.getCurrentCluster() || !kc.getCurrentUser()) throw new Error(`kubeconfig ${where}: no current cluster or user`);
  return kubeconfigPath ? withTokenFiles(kc, kubeconfigPath) : kc;
}

/**
 * client-node ignores kubectl's `tokenFile` user field (it reads only its own `token-file`, once). A user with
 * `tokenFile` and no `token` gets client-node's file authenticator instead, which re-reads the file.
 */
function withTokenFiles(kc: KubeConfig, file: string): KubeConfig {
  let raw: { users?: Array<{ name?: string; user?: { tokenFile?: unknown; token?: unknown } }> };
  try {
    raw = parse(fs.readFileSync(file, 'utf8')) ?? {};
  } catch {
    return kc;
  }
  const tokenFiles = new Map<string, string>();
  for (const u of raw.users ?? []) {
    const tf = u.user?.tokenFile;
    if (u.name && typeof tf === 'string' && tf && !u.user?.token) tokenFiles.set(u.name, path.resolve(path.dirname(file), tf));
  }
  if (tokenFiles.size === 0) return kc;
  const users: User[] = kc.getUsers().map((u) =>
    tokenFiles.has(u.name) && !u.authProvider && !u.exec ? { ...u, authProvider: { name: 'tokenFile', config: { tokenFile: tokenFiles.get(u.name)! } } } : u,
  );
  const out = new KubeConfig();
  out.loadFromOptions({ clusters: kc.getClusters(), users, contexts: kc.getContexts(), currentContext: kc.getCurrentContext() });
  return out;
}

/** Bound on getting credentials (an exec plugin that never answers must not stall the informers silently). */
const CREDENTIALS_TIMEOUT_MS = 30_000;

/**
 * The per-request TLS options and headers of the kubeconfig's current context. Getting them fails (that request
 * fails, the informer backs off and retries) when client-node cannot, or after 30 s.
 */
export function kubeConfigAuth(kc: KubeConfig, timeoutMs = CREDENTIALS_TIMEOUT_MS): KubeAuth {
  const cluster = kc.getCurrentCluster();
  const user = kc.getCurrentUser();
  if (!cluster || !user) throw new Error('kubeconfig: no current cluster or user');
  if (!cluster.server.startsWith('https://')) throw new Error(`kubeconfig cluster ${JSON.stringify(cluster.name)}: server ${cluster.server}: only https:// is supported`);
  return {
    server: cluster.server,
    async options() {
      const opts: https.RequestOptions = { headers: {} };
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          kc.applyToHTTPSOptions(opts),
          new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs))),
        ]);
      } catch (err) {
        throw new Error(`kubeconfig user ${JSON.stringify(user.name)}: credentials: ${(err as Error).message}`);
      } finally {
        clearTimeout(timer);
      }
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(opts.headers ?? {})) {
        // A token file's trailing newline must not reach the header (Node refuses it).
        if (v !== undefined) headers[k.toLowerCase()] = (Array.isArray(v) ? v.join(', ') : String(v)).trim();
      }
      if (opts.auth) headers['authorization'] = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
      const tls: KubeTls = {};
      if (opts.ca) tls.ca = opts.ca as string | Buffer;
      if (opts.cert) tls.cert = opts.cert as string | Buffer;
      if (opts.key) tls.key = opts.key as string | Buffer;
      if (opts.rejectUnauthorized === false) tls.rejectUnauthorized = false;
      if (opts.servername) tls.servername = opts.servername;
      return { tls, headers };
    },
  };
}

/** Herald's read-only client for a kubeconfig (see loadKubeConfig and kubeConfigAuth). */
export function connectKubernetes(kubeconfigPath: string): KubeClient {
  return new KubeClient(kubeConfigAuth(loadKubeConfig(kubeconfigPath)));
}
