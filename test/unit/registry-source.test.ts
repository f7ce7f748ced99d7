/**
 * The registry source against a scripted HTTP registry (a fake next to the code under test): a 404 or a
 * non-JSON body is an error of the source (last good hosts kept, counted), a 500 is retried at once (the
 * original's sweep-on-GET 500), kept hosts leave at their own TTL while the registry keeps failing, and one
 * malformed host (a zone id) is skipped while the rest load and the source syncs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { RegistrySource } from '../../src/sources/registry/registry-source';
import { formatCheckIn } from '../../src/sources/registry/protocol';
import type { SourceSnapshot } from '../../src/sources/source';
import { waitFor } from '../support/wait';
import { testTelemetry } from '../support/telemetry';

type Reply = { status: number; body: string };

async function scripted(): Promise<{ url: string; next: (r: Reply | ((n: number) => Reply)) => void; requests: () => number; close: () => Promise<void> }> {
  let reply: (n: number) => Reply = () => ({ status: 200, body: '{"hosts": []}' });
  let n = 0;
  const server = http.createServer((_req, res) => {
    const r = reply(n++);
    res.writeHead(r.status, { 'content-type': 'application/json' });
    res.end(r.body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    next: (r) => (reply = typeof r === 'function' ? r : () => r),
    requests: () => n,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const answer = (hosts: Array<{ ip: string; at?: number }>) =>
  JSON.stringify({
    service: 'legacy',
    env: 'production',
    hosts: hosts.map((h) => ({ service: 'legacy', ip_address: h.ip, port: 80, revision: 'r', service_repo_name: '', last_check_in: formatCheckIn(h.at ?? Date.now()), tags: { az: 'a', region: 'r', instance_id: h.ip } })),
  });

function sink() {
  const updates: Array<{ snapshot: SourceSnapshot; synced: boolean; at: number }> = [];
  const of = (u: (typeof updates)[number] | undefined) => [...(u?.snapshot.get('legacy')?.endpoints ?? [])].map((e) => e.address);
  return {
    updates,
    addresses: () => of(updates.at(-1)),
    /** When the first update without `ip` arrived (after one that had it). */
    leftAt: (ip: string) => updates.find((u, i) => i > 0 && of(updates[i - 1]).includes(ip) && !of(u).includes(ip))?.at,
    update: (_s: string, snapshot: SourceSnapshot, synced: boolean) => void updates.push({ snapshot, synced, at: Date.now() }),
  };
}

test('registry source: 404 and non-JSON are errors (hosts kept, counted); a 500 is retried at once', async (t) => {
  const reg = await scripted();
  const s = sink();
  const telemetry = testTelemetry();
  const render = () => telemetry.metrics.render();
  const source = new RegistrySource({ name: 'vms-a', url: reg.url, services: ['legacy'], intervalMs: 100, ttlSeconds: 600, telemetry });
  t.after(async () => {
    await source.stop();
    await reg.close();
  });
  reg.next({ status: 200, body: answer([{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }]) });
  await source.start(s);
  await waitFor('first hosts', () => s.addresses().length === 2);
  const count = s.updates.length;
  reg.next({ status: 404, body: '<html>Not Found</html>' });
  await waitFor('a few 404s', async () => /herald_registry_polls_total\{outcome="not_found",source="vms-a"\} [3-9]/.test(await render()), 5000);
  reg.next({ status: 200, body: '<html>maintenance</html>' });
  await waitFor('garbage counted', async () => /herald_registry_polls_total\{outcome="garbage",source="vms-a"\} [1-9]/.test(await render()), 5000);
  assert.equal(s.updates.length, count, 'neither a 404 nor garbage emptied the service');
  assert.deepEqual(s.addresses(), ['10.0.0.1', '10.0.0.2']);

  // The original's 500 on a GET that sweeps an expired host, then its good answer: applied in the same cycle.
  const before = reg.requests();
  reg.next((n) => (n === before ? { status: 500, body: '<html>500</html>' } : { status: 200, body: answer([{ ip: '10.0.0.1' }]) }));
  await waitFor('the retried answer', () => s.addresses().length === 1, 5000);
  assert.deepEqual(s.addresses(), ['10.0.0.1']);
});

test('registry source: kept hosts leave at their own TTL while the registry keeps failing', async (t) => {
  const reg = await scripted();
  const s = sink();
  const telemetry = testTelemetry();
  const render = () => telemetry.metrics.render();
  const source = new RegistrySource({ name: 'vms-b', url: reg.url, services: ['legacy'], intervalMs: 100, ttlSeconds: 2, telemetry });
  t.after(async () => {
    await source.stop();
    await reg.close();
  });
  const now = Date.now();
  reg.next({ status: 200, body: answer([{ ip: '10.0.0.1', at: now - 1000 }, { ip: '10.0.0.2', at: now }]) });
  await source.start(s);
  await waitFor('first hosts', () => s.addresses().length === 2);
  reg.next({ status: 500, body: 'internal server error' });
  // Each leaves at the first poll after its own check-in + TTL (polls back off, 0.1–0.2 s doubling, so one poll may
  // come after both TTLs and drop both at once: the older never after the newer, neither before its TTL).
  await waitFor('both hosts to leave by their TTLs', () => s.addresses().length === 0, 30_000);
  const first = s.leftAt('10.0.0.1')! - (now - 1000);
  const second = s.leftAt('10.0.0.2')! - now;
  assert.ok(first >= 2000 && first < 30_000, `the older host left ${first} ms after its check-in (TTL 2 s)`);
  assert.ok(second >= 2000 && second < 30_000, `the newer host left ${second} ms after its check-in (TTL 2 s)`);
  assert.ok(s.leftAt('10.0.0.1')! <= s.leftAt('10.0.0.2')!, 'the older host left first (or with the newer)');
  assert.match(await render(), /herald_registry_kept_hosts_expired_total\{source="vms-b"\} 2/);
});

test('registry source: a zone-id host is skipped with its reason; the rest load and the source syncs', async (t) => {
  const reg = await scripted();
  const s = sink();
  const telemetry = testTelemetry();
  const render = () => telemetry.metrics.render();
  const source = new RegistrySource({ name: 'vms-c', url: reg.url, services: ['legacy'], intervalMs: 100, ttlSeconds: 600, telemetry });
  t.after(async () => {
    await source.stop();
    await reg.close();
  });
  reg.next({ status: 200, body: answer([{ ip: '10.0.0.1' }, { ip: 'fe80::1%eth0' }, { ip: '10.0.0.3' }]) });
  await source.start(s);
  await waitFor('hosts', () => s.updates.length > 0);
  assert.equal(s.updates[0]!.synced, true);
  assert.deepEqual(s.addresses(), ['10.0.0.1', '10.0.0.3']);
  assert.match(await render(), /herald_registry_hosts_skipped_total\{source="vms-c"\} [1-9]/);
});
