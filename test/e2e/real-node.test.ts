/**
 * deploy/ on a real node (lab/src/node: containerd, kubelet, kube-proxy in a network namespace), as an
 * operator runs it: images built by images/build.sh and imported, `kubectl apply -k deploy/` and
 * `kubectl apply -k deploy/example/` unchanged, with xDS over mTLS as deploy/ configures it. What cert-manager
 * would issue (deploy/cert-manager/) is made here with openssl and stored as the Secrets the manifests name: a
 * CA, Herald's serving certificate for the herald-xds Service's DNS names (herald-xds-tls: tls.crt, tls.key,
 * ca.crt), and client certificates whose SPIFFE URIs name each sidecar's namespace and service (web's
 * web-xds-client-tls, the caller's caller-xds-client-tls). Proves:
 * - two Herald replicas become ready (in-cluster config through the `kubernetes` Service, the
 *   herald-xds Service found by cluster DNS);
 * - every `web` pod's app container starts only after its Envoy sidecar is connected to Herald over mTLS
 *   (Herald's "xds stream opened" log line, written once the client certificate agreed with the node's
 *   claim) and configured (Envoy's "starting workers" log line), and the app
 *   stops before the sidecar gets SIGTERM (containerd's log timestamps, nanoseconds);
 * - a caller pod sending requests through its own sidecar (retries off) sees zero failed requests
 *   while web is rolled twice and scaled 2 → 6 → 2, and its Envoy ends with exactly web's live pods;
 * - no stream was refused (no identity mismatch, no TLS failure in Herald's logs).
 * Skips, saying why, only when the machine cannot run a real node (not root, not Linux, no cgroups,
 * or scripts/setup-node.sh / make kube could not provide the tools).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { startControlPlane, type ControlPlane } from '../../lab/src/kube';
import { imageArchives, realNodeControlPlaneOptions, realNodeSkipReason, startRealNode, type LogLine, type RealNode } from '../../lab/src/node';
import { makeTestPki, type TestPki } from '../support/certs';
import { repoRoot } from '../support/repo';
import { waitFor } from '../support/wait';

const ROOT = repoRoot();
const EXAMPLE_NS = 'herald-example';
const HERALD_NS = 'herald-system';
/** The name sidecars dial and check Herald's certificate against (deploy/example/web.yaml HERALD_XDS_TLS_SERVER_NAME). */
const XDS_SERVER_NAME = 'herald-xds.herald-system.svc.cluster.local';
/** Where web.yaml mounts the client Secret; the caller uses the same layout. */
const XDS_TLS_DIR = '/etc/herald-xds-tls';

const skip = realNodeSkipReason();

/**
 * The caller's load: 50 requests/s to http://web through the sidecar's egress, stats on :8081. The
 * client waits 20 s, longer than Envoy's route timeout (15 s), so a request Envoy gives up on is
 * counted as Envoy's 504, and a slow one shows in `slow` (over 1 s) and `maxMs`.
 */
const LOAD = `
const http = require('http');
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
const s = { sent: 0, ok: 0, failed: 0, slow: 0, maxMs: 0, statuses: {}, errors: {}, failures: [], slowest: [] };
const fail = (why) => { s.failed++; if (s.failures.length < 50) s.failures.push({ t: new Date().toISOString(), why }); };
setInterval(() => {
  s.sent++;
  const t0 = Date.now();
  const took = () => { const ms = Date.now() - t0; s.maxMs = Math.max(s.maxMs, ms); if (ms > 1000) { s.slow++; if (s.slowest.length < 20) s.slowest.push({ t: new Date(t0).toISOString(), ms }); } };
  const req = http.request({ host: '127.0.0.1', port: 15001, path: '/', headers: { host: 'web' }, agent, timeout: 20000 }, (res) => {
    let body = '';
    res.on('data', (c) => (body += c));
    res.on('end', () => {
      took();
      if (res.statusCode === 200 && body.startsWith('hello from web')) s.ok++;
      else { s.statuses[res.statusCode] = (s.statuses[res.statusCode] || 0) + 1; fail(res.statusCode + ' ' + body.slice(0, 120)); }
    });
    res.on('error', (e) => fail('response ' + e.message));
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (e) => { took(); s.errors[e.code || e.message] = (s.errors[e.code || e.message] || 0) + 1; fail(e.code || e.message); });
  req.end();
}, 20);
http.createServer((req, res) => {
  if (req.url === '/stats') return res.end(JSON.stringify(s));
  if (req.url === '/clusters') {
    return http.get({ host: '127.0.0.1', port: 9901, path: '/clusters?format=json' }, (r) => r.pipe(res)).on('error', (e) => { res.statusCode = 502; res.end(e.message); });
  }
  res.statusCode = 404; res.end();
}).listen(8081);
`;

const CALLER = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'caller', namespace: EXAMPLE_NS, labels: { role: 'caller' } },
  spec: {
    volumes: [
      { name: 'envoy-config', emptyDir: {} },
      { name: 'xds-client-tls', secret: { secretName: 'caller-xds-client-tls' } },
    ],
    initContainers: [
      {
        name: 'herald-bootstrap',
        image: 'herald:0.1.0',
        imagePullPolicy: 'Never',
        args: ['bootstrap', '--out', '/etc/envoy/bootstrap.json'],
        env: [
          { name: 'HERALD_XDS', value: 'herald-xds.herald-system.svc.cluster.local:18000' },
          { name: 'HERALD_XDS_PROTOCOL', value: 'delta' },
          { name: 'HERALD_CLUSTER', value: 'caller' },
          { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
          { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
          { name: 'HERALD_READY_PORT', value: '15021' },
          // mTLS to Herald as web's sidecar does it (deploy/example/web.yaml).
          { name: 'HERALD_XDS_TLS_CA', value: `${XDS_TLS_DIR}/ca.crt` },
          { name: 'HERALD_XDS_TLS_CERT', value: `${XDS_TLS_DIR}/tls.crt` },
          { name: 'HERALD_XDS_TLS_KEY', value: `${XDS_TLS_DIR}/tls.key` },
          { name: 'HERALD_XDS_TLS_SERVER_NAME', value: XDS_SERVER_NAME },
          { name: 'HERALD_XDS_TLS_SDS_DIR', value: '/etc/envoy' },
        ],
        volumeMounts: [{ name: 'envoy-config', mountPath: '/etc/envoy' }],
      },
      {
        name: 'envoy',
        image: 'herald-envoy:1.40.0',
        imagePullPolicy: 'Never',
        restartPolicy: 'Always',
        args: ['-c', '/etc/envoy/bootstrap.json'],
        startupProbe: { httpGet: { path: '/ready', port: 15021 }, periodSeconds: 1, failureThreshold: 120 },
        resources: { requests: { cpu: '100m', memory: '64Mi' } },
        volumeMounts: [
          { name: 'envoy-config', mountPath: '/etc/envoy', readOnly: true },
          { name: 'xds-client-tls', mountPath: XDS_TLS_DIR, readOnly: true },
        ],
      },
    ],
    // CPU requests: a BestEffort pod gets cpu.shares 2 and stalls for seconds on a busy machine, which
    // would measure the machine, not the mesh.
    containers: [{ name: 'load', image: 'herald:0.1.0', imagePullPolicy: 'Never', command: ['/usr/local/bin/node', '-e', LOAD], resources: { requests: { cpu: '200m', memory: '64Mi' } } }],
  },
};

interface Pod {
  metadata: { name: string; deletionTimestamp?: string; labels?: Record<string, string> };
  status: { podIP?: string; phase?: string; conditions?: { type: string; status: string }[] };
}
interface LoadStats {
  sent: number;
  ok: number;
  failed: number;
  slow: number;
  maxMs: number;
  slowest: { t: string; ms: number }[];
  statuses: Record<string, number>;
  errors: Record<string, number>;
  failures: { t: string; why: string }[];
}

async function kubectl(cp: ControlPlane, args: string[], input?: string): Promise<string> {
  const r = await cp.kubectl(args, input);
  assert.equal(r.code, 0, `kubectl ${args.join(' ')} failed:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

async function pods(cp: ControlPlane, ns: string, selector: string): Promise<Pod[]> {
  return JSON.parse(await kubectl(cp, ['get', 'pods', '-n', ns, '-l', selector, '-o', 'json'])).items as Pod[];
}

const isReady = (p: Pod) => p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

/**
 * Everything that disappears soon after a pod is gone, copied while it exists: each web pod's app and
 * envoy log lines, and each Herald replica's log lines. (Herald's admin API, with /proxies, listens on the
 * pod's loopback only; its log says when a proxy's stream was accepted.)
 */
class Collector {
  readonly logs = new Map<string, { app: LogLine[]; envoy: LogLine[] }>();
  readonly heraldLogs = new Map<string, LogLine[]>();
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(private readonly cp: ControlPlane, private readonly node: RealNode) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), 300);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Herald's structured log lines (JSON on stderr) with message `msg`, from every replica, with containerd's timestamp. */
  heraldEvents(msg: string): { timeMs: number; fields: Record<string, unknown> }[] {
    const out: { timeMs: number; fields: Record<string, unknown> }[] = [];
    for (const lines of this.heraldLogs.values()) {
      for (const l of lines) {
        if (!l.text.startsWith('{')) continue;
        try {
          const fields = JSON.parse(l.text) as Record<string, unknown>;
          if (fields['msg'] === msg) out.push({ timeMs: l.timeMs, fields });
        } catch {
          /* not one of Herald's lines */
        }
      }
    }
    return out;
  }

  /**
   * When each node id's first stream was accepted by either replica: Herald logs "xds stream opened" after the
   * identity check and before its first response, and containerd stamps the line no earlier than that.
   */
  connectedAt(): Map<string, number> {
    const first = new Map<string, number>();
    for (const e of this.heraldEvents('xds stream opened')) {
      const id = String(e.fields['node']);
      if (!first.has(id) || e.timeMs < first.get(id)!) first.set(id, e.timeMs);
    }
    return first;
  }

  async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      for (const pod of this.node.podsWithLogs(EXAMPLE_NS)) {
        if (!pod.startsWith('web-')) continue;
        const app = this.node.containerLog(EXAMPLE_NS, pod, 'app');
        const envoy = this.node.containerLog(EXAMPLE_NS, pod, 'envoy');
        const had = this.logs.get(pod);
        this.logs.set(pod, { app: app.length >= (had?.app.length ?? 0) ? app : had!.app, envoy: envoy.length >= (had?.envoy.length ?? 0) ? envoy : had!.envoy });
      }
      for (const pod of this.node.podsWithLogs(HERALD_NS)) {
        const lines = this.node.containerLog(HERALD_NS, pod, 'herald');
        if (lines.length >= (this.heraldLogs.get(pod)?.length ?? 0)) this.heraldLogs.set(pod, lines);
      }
    } catch {
      /* the next tick */
    } finally {
      this.busy = false;
    }
  }
}

const firstLine = (lines: LogLine[], re: RegExp) => lines.find((l) => re.test(l.text))?.timeMs;

/**
 * What cert-manager would issue for deploy/ (deploy/cert-manager/*.yaml), made with openssl and stored as the
 * Secrets the manifests mount: Herald's serving certificate for the herald-xds Service's names, and one
 * client certificate per sidecar identity (SPIFFE `spiffe://cluster.local/ns/<ns>/sa/<service>`).
 */
async function issueMeshCertificates(cp: ControlPlane): Promise<TestPki> {
  const pki = makeTestPki({ serverSan: ['herald-xds', `herald-xds.${HERALD_NS}.svc`, XDS_SERVER_NAME].map((n) => `DNS:${n}`).join(',') });
  const secret = async (ns: string, name: string, pair: { cert: string; key: string }) =>
    kubectl(cp, ['create', 'secret', 'generic', name, '-n', ns, `--from-file=tls.crt=${pair.cert}`, `--from-file=tls.key=${pair.key}`, `--from-file=ca.crt=${pki.ca}`]);
  // The namespaces as deploy/ declares them, so the Secrets exist before any pod that mounts them.
  await kubectl(cp, ['apply', '-f', path.join(ROOT, 'deploy', 'namespace.yaml')]);
  await kubectl(cp, ['apply', '-f', path.join(ROOT, 'deploy', 'example', 'namespace.yaml')]);
  await secret(HERALD_NS, 'herald-xds-tls', pki.server);
  for (const service of ['web', 'caller']) {
    await secret(EXAMPLE_NS, `${service}-xds-client-tls`, pki.issue(`${service}-client`, `URI:spiffe://cluster.local/ns/${EXAMPLE_NS}/sa/${service}`));
  }
  return pki;
}

test('real node: deploy/ as it is; sidecar ordering from timestamps; zero failed requests through rollouts and scaling', { skip, timeout: 600_000 }, async (t) => {
  const began = Date.now();
  const phase = (name: string, since: number) => t.diagnostic(`${name}: ${((Date.now() - since) / 1000).toFixed(1)} s`);

  let at = Date.now();
  const built = execFileSync('bash', [path.join(ROOT, 'images', 'build.sh')], { encoding: 'utf8', timeout: 600_000 });
  for (const line of built.trim().split('\n')) t.diagnostic(`image ${line}`);
  phase('images built', at);

  at = Date.now();
  const cp = await startControlPlane(realNodeControlPlaneOptions());
  t.after(() => cp.stop());
  const node = await startRealNode(cp, { images: imageArchives(), log: (m) => t.diagnostic(m) });
  t.after(() => node.stop());
  t.diagnostic(`images imported in ${node.importMs} ms; node Ready ${node.startupMs} ms after start`);
  phase('control plane + node', at);
  const collector = new Collector(cp, node);
  collector.start();
  t.after(() => collector.stop());

  // Herald: two replicas ready, serving xDS over mTLS with the certificates cert-manager would have issued.
  at = Date.now();
  const pki = await issueMeshCertificates(cp);
  t.after(() => pki.remove());
  await kubectl(cp, ['apply', '-k', path.join(ROOT, 'deploy')]);
  await kubectl(cp, ['rollout', 'status', '-n', HERALD_NS, 'deployment/herald', '--timeout=120s']);
  const heralds = await pods(cp, HERALD_NS, 'app.kubernetes.io/name=herald');
  assert.equal(heralds.filter(isReady).length, 2, 'two Herald replicas ready');
  phase('Herald ready', at);

  // The example app, then the caller.
  at = Date.now();
  await kubectl(cp, ['apply', '-k', path.join(ROOT, 'deploy', 'example')]);
  await kubectl(cp, ['rollout', 'status', '-n', EXAMPLE_NS, 'deployment/web', '--timeout=120s']);
  await kubectl(cp, ['apply', '-f', '-'], JSON.stringify(CALLER));
  await kubectl(cp, ['wait', '-n', EXAMPLE_NS, 'pod/caller', '--for=condition=Ready', '--timeout=120s']);
  const callerIp = (await pods(cp, EXAMPLE_NS, 'role=caller'))[0]!.status.podIP!;
  const stats = async () => {
    const r = await node.request(`http://${callerIp}:8081/stats`);
    if (r.status !== 200) throw new Error(`caller /stats: ${r.status} ${r.body}`);
    return JSON.parse(r.body) as LoadStats;
  };
  await waitFor('the caller to get answers from web', async () => (await stats()).ok > 20, 30_000, 200).catch((err: Error) => {
    const tail = (c: string) => node.containerLog(EXAMPLE_NS, 'caller', c).slice(-10).map((l) => l.text).join('\n');
    throw new Error(`${err.message}\n--- load\n${tail('load')}\n--- envoy\n${tail('envoy')}`);
  });
  phase('web and caller ready', at);

  // Rolled twice, scaled 2 → 6 → 2, with the caller's requests counted from here.
  at = Date.now();
  const before = await stats();
  for (const round of [1, 2]) {
    await kubectl(cp, ['rollout', 'restart', '-n', EXAMPLE_NS, 'deployment/web']);
    await kubectl(cp, ['rollout', 'status', '-n', EXAMPLE_NS, 'deployment/web', '--timeout=180s']);
    phase(`rollout ${round}`, at);
  }
  await kubectl(cp, ['scale', '-n', EXAMPLE_NS, 'deployment/web', '--replicas=6']);
  await kubectl(cp, ['rollout', 'status', '-n', EXAMPLE_NS, 'deployment/web', '--timeout=180s']);
  phase('scaled to 6', at);
  await kubectl(cp, ['scale', '-n', EXAMPLE_NS, 'deployment/web', '--replicas=2']);
  await waitFor('web to be 2 pods, none terminating', async () => (await pods(cp, EXAMPLE_NS, 'app=web')).length === 2, 120_000, 500);
  phase('scaled to 2, terminations done', at);

  // The caller's Envoy converges: exactly web's two live pods, healthy.
  const live = (await pods(cp, EXAMPLE_NS, 'app=web')).map((p) => `${p.status.podIP}:15006`).sort();
  const hostsOf = async () => {
    const dump = JSON.parse((await node.request(`http://${callerIp}:8081/clusters`)).body) as {
      cluster_statuses: { name: string; host_statuses?: { address: { socket_address: { address: string; port_value: number } }; health_status: { eds_health_status?: string; failed_active_health_check?: boolean } }[] }[];
    };
    const web = dump.cluster_statuses.find((c) => c.name === `web.${EXAMPLE_NS}`);
    return (web?.host_statuses ?? [])
      .filter((h) => (h.health_status.eds_health_status ?? 'HEALTHY') === 'HEALTHY' && !h.health_status.failed_active_health_check)
      .map((h) => `${h.address.socket_address.address}:${h.address.socket_address.port_value}`)
      .sort();
  };
  await waitFor(`the caller's Envoy to hold exactly ${live.join(', ')}`, async () => JSON.stringify(await hostsOf()) === JSON.stringify(live), 30_000, 250);
  const after = await stats();
  const sent = after.ok + after.failed - (before.ok + before.failed);
  t.diagnostic(`caller: ${sent} requests during the rollouts and scaling, ${after.failed - before.failed} failed, ${after.slow - before.slow} slower than 1 s (max ${after.maxMs} ms${after.slowest.length ? `: ${JSON.stringify(after.slowest)}` : ''}); statuses ${JSON.stringify(after.statuses)} errors ${JSON.stringify(after.errors)}`);
  assert.ok(sent > 500, `the caller kept sending (${sent} requests)`);
  assert.equal(after.failed - before.failed, 0, `failed requests: ${JSON.stringify(after.failures)}`);

  // Ordering, from timestamps: connected (Herald) and configured (Envoy) before the app starts; app gone before Envoy's SIGTERM.
  await collector.tick();
  collector.stop();
  const connectedAt = collector.connectedAt();
  assert.ok(connectedAt.has(`caller.${EXAMPLE_NS}`), `the caller's stream was accepted over mTLS (streams: ${[...connectedAt.keys()].join(', ')})`);
  const rejected = collector.heraldEvents('xds stream rejected');
  assert.deepEqual(rejected.map((e) => e.fields), [], 'no xDS stream refused (identity, limits, malformed)');
  let starts = 0;
  let stops = 0;
  for (const [pod, { app, envoy }] of collector.logs) {
    const appStart = firstLine(app, /echo listening/);
    const configured = firstLine(envoy, /all dependencies initialized\. starting workers/);
    const connected = connectedAt.get(`${pod}.${EXAMPLE_NS}`);
    if (appStart !== undefined && configured !== undefined && connected !== undefined) {
      assert.ok(connected < configured && configured < appStart, `${pod}: connected ${connected}, configured ${configured}, app started ${appStart}`);
      t.diagnostic(`${pod}: connected → configured ${(configured - connected).toFixed(0)} ms, configured → app start ${(appStart - configured).toFixed(0)} ms`);
      starts += 1;
    }
    const appStopped = firstLine(app, /echo stopped/);
    const sigterm = firstLine(envoy, /caught ENVOY_SIGTERM/);
    if (appStopped !== undefined && sigterm !== undefined) {
      assert.ok(appStopped < sigterm, `${pod}: app stopped ${appStopped}, Envoy SIGTERM ${sigterm}`);
      t.diagnostic(`${pod}: app stopped → Envoy SIGTERM ${(sigterm - appStopped).toFixed(0)} ms`);
      stops += 1;
    } else if (sigterm !== undefined) {
      assert.fail(`${pod}: Envoy got SIGTERM but the app never logged its stop`);
    }
  }
  assert.ok(starts >= 6, `start order proved for ${starts} web pods`);
  assert.ok(stops >= 4, `stop order proved for ${stops} web pods`);
  const events = await kubectl(cp, ['get', 'events', '-A', '--field-selector', 'reason=FailedPreStopHook', '-o', 'name']);
  assert.equal(events.trim(), '', 'no preStop hook failed');
  phase('whole test', began);
});
