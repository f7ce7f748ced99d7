/**
 * Helper process of real-node-cleanup.test.ts: starts a control plane and a real node running one pod
 * (herald-echo), prints one JSON line `{ runDir }` once the pod runs, then waits to be SIGKILLed.
 */
import { startControlPlane } from '../../lab/src/kube';
import { imageArchives, realNodeControlPlaneOptions, startRealNode } from '../../lab/src/node';

const POD = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'echo', namespace: 'default' },
  spec: { containers: [{ name: 'echo', image: 'herald-echo:0.1.0', imagePullPolicy: 'Never', args: ['-listen=:8080', '-text=hi'] }] },
};

async function main(): Promise<void> {
  const cp = await startControlPlane(realNodeControlPlaneOptions());
  const node = await startRealNode(cp, { images: imageArchives().filter((a) => /pause|echo/.test(a)) });
  const r = await cp.kubectl(['apply', '-f', '-'], JSON.stringify(POD));
  if (r.code !== 0) throw new Error(r.stderr);
  const w = await cp.kubectl(['wait', 'pod/echo', '--for=condition=Ready', '--timeout=60s']);
  if (w.code !== 0) throw new Error(w.stderr);
  process.stdout.write(JSON.stringify({ runDir: node.runDir }) + '\n');
  setInterval(() => undefined, 60_000);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
