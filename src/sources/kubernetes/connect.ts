/**
 * Builds the informers' transport from a kubeconfig (client-node's KubeConfig does the loading): a file, or
 * in-cluster service-account credentials, then $KUBECONFIG, then ~/.kube/config. Bearer tokens, inline or in a
 * file (in-cluster tokens rotate: the file is re-read at most every 30 s and the connection rebuilt when it
 * changed). Client-certificate users are refused with a clear error for now.
 */
import * as fs from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient } from './client';
import type { KubeApi } from './informer';

export function connectKubernetes(kubeconfigPath: string): KubeApi {
  const kc = new KubeConfig();
  if (kubeconfigPath) kc.loadFromFile(kubeconfigPath);
  else kc.loadFromDefault();
  const cluster = kc.getCurrentCluster();
  const user = kc.getCurrentUser();
  if (!cluster || !user) throw new Error(`kubeconfig ${kubeconfigPath || '(default)'}: no current cluster or user`);
  const caPem = cluster.caData ? Buffer.from(cluster.caData, 'base64').toString('utf8') : cluster.caFile ? fs.readFileSync(cluster.caFile, 'utf8') : '';
  const tokenFile: string | undefined = user.authProvider?.config?.tokenFile ?? (user as { tokenFile?: string }).tokenFile;
  if (!user.token && !tokenFile) {
    throw new Error(`kubeconfig user ${JSON.stringify(user.name)}: only bearer-token users are supported (token or tokenFile)`);
  }
  const readToken = () => (tokenFile ? fs.readFileSync(tokenFile, 'utf8').trim() : user.token!);
  let token = readToken();
  let client = new KubeClient({ server: cluster.server, token, caPem });
  let checkedAt = Date.now();
  const current = (): KubeClient => {
    if (tokenFile && Date.now() - checkedAt > 30_000) {
      checkedAt = Date.now();
      const fresh = readToken();
      if (fresh !== token) {
        token = fresh;
        // The old client is dropped, not closed: closing would cut the watches it is still serving; they end at
        // their timeout and are resumed through the new client.
        client = new KubeClient({ server: cluster.server, token, caPem });
      }
    }
    return client;
  };
  return {
    get: (path, query, signal) => current().get(path, query, signal),
    watch: (path, query, onEvent, signal) => current().watch(path, query, onEvent as never, signal),
  };
}
