/**
 * Helper process of kube-harness.test.ts: starts a control plane and a lab kubelet running one pod,
 * prints one JSON line with the process groups and the pod IP, then waits to be killed.
 */
import { startLab, waitDeploymentReady, kubectlApply, webApp } from '../src/harness';

async function main(): Promise<void> {
  const lab = await startLab();
  await kubectlApply(lab.cp, webApp('orphan', { replicas: 1 }));
  await waitDeploymentReady(lab.cp, 'orphan', 1);
  const pods = lab.kubelet.pods('default');
  const groups = [...Object.values(lab.cp.processGroups()), ...pods.map((p) => p.pid)];
  process.stdout.write(JSON.stringify({ groups, podIP: pods[0]?.ip, dataDir: lab.cp.dataDir }) + '\n');
  setInterval(() => undefined, 60_000);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
