/**
 * `herald demo`: Herald on its embedded default (a file source), two HTTP backends and a real Envoy in front.
 * Requests flow through Envoy; then the demo edits the services file (backend-1 DRAINING, then removed, then
 * back) and shows each edit arriving in Envoy and moving the traffic. Everything runs on loopback and stops
 * by itself.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { parseConfig } from '../../../src/config/config';
import { startHerald } from '../../../src/main';
import { envoyBootstrap } from '../../../src/envoy/bootstrap';
import { startEnvoy, type EnvoyProcess } from '../envoy/process';
import { startBackend, type Backend } from './backend';
import { isLevel } from '../../../src/log/log';
import { createTelemetry } from '../../../src/telemetry';
import { leave } from '../leave';

const say = (s: string) => process.stdout.write(s + '\n');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

function get(port: number, host: string): Promise<string> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/', headers: { host }, agent: false, timeout: 3000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? String(res.headers['x-backend']) : `HTTP ${res.statusCode}`));
    });
    req.on('error', (e) => resolve(`error ${e.message}`));
    req.end();
  });
}

async function traffic(port: number, n: number): Promise<string> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const who = await get(port, 'demo');
    counts.set(who, (counts.get(who) ?? 0) + 1);
  }
  return [...counts].sort().map(([k, v]) => `${k}: ${v}`).join(', ');
}

async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 15_000): Promise<number> {
  const start = Date.now();
  while (!(await probe())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - start;
}

async function envoyHost(envoy: EnvoyProcess, port: number): Promise<string> {
  const json = JSON.parse((await envoy.admin('/clusters?format=json')).body);
  // The file's service `demo` is in namespace default: its Envoy cluster is demo.default.
  const c = (json.cluster_statuses ?? []).find((x: any) => x.name === 'demo.default');
  const h = (c?.host_statuses ?? []).find((x: any) => x.address.socket_address.port_value === port);
  if (!h) return 'absent';
  return h.health_status.eds_health_status ?? 'HEALTHY';
}

export async function demo(argv: string[]): Promise<void> {
  // The demo narrates; Herald's own info lines would interleave with it (HERALD_LOG_LEVEL=info shows them).
  const env = process.env.HERALD_LOG_LEVEL;
  const telemetry = createTelemetry({ log: { level: isLevel(env) ? env : 'warn' } });
  // Incremental xDS unless told otherwise (--sotw).
  const protocol = argv.includes('--sotw') ? 'sotw' : 'delta';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-demo-'));
  const backends: Backend[] = [await startBackend('backend-1'), await startBackend('backend-2')];
  const servicesFile = path.join(dir, 'services.yaml');
  const writeServices = (eps: Array<{ port: number; health?: string }>) => {
    fs.writeFileSync(`${servicesFile}.tmp`, stringify({ services: [{ name: 'demo', endpoints: eps.map((e) => ({ address: '127.0.0.1', zone: 'zone-a', ...e })) }] }));
    fs.renameSync(`${servicesFile}.tmp`, servicesFile);
  };
  const [b1, b2] = backends as [Backend, Backend];
  writeServices([{ port: b1.port }, { port: b2.port }]);
  const egressPort = await freePort();
  const adminPort = await freePort();
  const config = parseConfig(
    stringify({ xds: { port: 0 }, admin: { port: 0 }, sidecar: { egress: { port: egressPort } }, sources: [{ kind: 'file', name: 'demo', path: servicesFile }] }),
    dir,
  );
  const herald = await startHerald(config, { telemetry });
  say(`Herald: xDS on 127.0.0.1:${herald.xdsPort}, admin on http://127.0.0.1:${herald.adminPort} (services file ${servicesFile})`);
  const envoy = await startEnvoy({
    adminPort,
    bootstrap: envoyBootstrap({ nodeId: 'demo-sidecar', cluster: 'demo-client', zone: 'zone-a', xdsAddress: '127.0.0.1', xdsPort: herald.xdsPort, protocol, adminPort, egress: `127.0.0.1:${egressPort}` }),
  });
  try {
    const readyMs = await until('Envoy /ready', () => envoy.isReady());
    say(`Envoy (${protocol} ADS): ready ${readyMs} ms after start; egress listener 127.0.0.1:${egressPort}, admin ${envoy.adminUrl}`);
    await until('both backends healthy in Envoy', async () => (await traffic(egressPort, 4)).split(',').length === 2);
    say(`\n20 requests to http://demo through Envoy -> ${await traffic(egressPort, 20)}`);

    say('\nEdit: backend-1 DRAINING (no new requests; in-flight ones finish)');
    writeServices([{ port: b1.port, health: 'DRAINING' }, { port: b2.port }]);
    const drainMs = await until('DRAINING in Envoy', async () => (await envoyHost(envoy, b1.port)) === 'DRAINING');
    say(`  arrived in Envoy after ${drainMs} ms (/clusters: backend-1 ${await envoyHost(envoy, b1.port)})`);
    say(`  20 requests -> ${await traffic(egressPort, 20)}`);

    say('\nEdit: backend-1 removed');
    writeServices([{ port: b2.port }]);
    const removeMs = await until('removal in Envoy', async () => (await envoyHost(envoy, b1.port)) === 'absent');
    say(`  arrived in Envoy after ${removeMs} ms; 20 requests -> ${await traffic(egressPort, 20)}`);

    say('\nEdit: backend-1 back');
    writeServices([{ port: b1.port }, { port: b2.port }]);
    const backMs = await until('backend-1 routed again', async () => (await traffic(egressPort, 6)).includes('backend-1'));
    say(`  routed again after ${backMs} ms (active health check first); 20 requests -> ${await traffic(egressPort, 20)}`);

    const seconds = Number(argv[argv.indexOf('--seconds') + 1]);
    if (argv.includes('--seconds') && seconds > 0) {
      say(`\nLeaving it running for ${seconds} s: edit ${servicesFile} and watch http://127.0.0.1:${herald.adminPort}/proxies`);
      await new Promise((r) => setTimeout(r, seconds * 1000));
    }
    const proxies = herald.xds.proxies();
    say(`\n/proxies: ${proxies.map((p) => `${p.nodeId} (${p.protocol}, ${Object.values(p.types).reduce((n, t) => n + (t?.acks ?? 0), 0)} ACKs, ${Object.values(p.types).reduce((n, t) => n + (t?.nacks ?? 0), 0)} NACKs)`).join('; ')}`);
    say('demo finished');
  } finally {
    await envoy.stop();
    await herald.stop();
    for (const b of backends) await b.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  leave((m) => process.stderr.write(`demo: ${m}\n`));
}
