/**
 * The legacy registry, both sides, through to a connected xDS client: Herald's registry server (SQLite, token
 * writes, TTL expiry, durable across restarts) and the registry source polling it through a failure switch
 * (500s, empty lists, garbage: the guard holds and nothing is removed).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/config';
import { startHerald, type Running } from '../../src/main';
import { startFaultyRegistry } from '../../lab/src/registry-faults';
import { AdsClient, typeUrl } from '../support/ads-client';
import { sleep, waitFor } from '../support/wait';

const TOKEN = 'secret-token';

function register(port: number, service: string, ip: string, extra: Record<string, string> = {}, token = TOKEN) {
  const form = new URLSearchParams({ ip, port: '8080', revision: 'r1', tags: JSON.stringify({ az: 'zone-a', region: 'r', instance_id: `i-${ip}`, ...extra }) });
  return fetch(`http://127.0.0.1:${port}/v1/registration/${service}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${token}` },
    body: form,
  });
}

function endpoints(cla: any): Array<{ addr: string; zone: string; region?: string; weight: number; canary?: string }> {
  return (cla?.endpoints ?? [])
    .flatMap((l: any) =>
      l.lbEndpoints.map((e: any) => ({
        addr: e.endpoint.address.socketAddress.address,
        zone: l.locality?.zone ?? '',
        region: l.locality?.region || undefined,
        weight: e.loadBalancingWeight?.value ?? 1,
        canary: e.metadata?.filterMetadata?.herald?.fields?.canary?.stringValue,
      })),
    )
    .sort((a: any, b: any) => (a.addr < b.addr ? -1 : 1));
}

test('registry server and source: register, TTL expiry, outage held by the guard, durable restart', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-registry-'));
  fs.writeFileSync(path.join(dir, 'token'), TOKEN + '\n');
  // The registry server first, alone (as `herald registry` runs it), so the source can point through the switch.
  const registryOnly = await startHerald(
    parseConfig(stringify({ registry: { port: 0, db: 'registry.sqlite', tokenFile: 'token', ttlSeconds: 3 }, sources: [{ kind: 'file', path: 'empty.yaml' }] }), dir),
  );
  fs.writeFileSync(path.join(dir, 'empty.yaml'), '');
  const regPort = registryOnly.registryPort!;
  const faulty = await startFaultyRegistry(`http://127.0.0.1:${regPort}`);
  let herald: Running | undefined;
  let client: AdsClient | undefined;
  t.after(async () => {
    client?.close();
    await herald?.stop();
    await faulty.close();
    await registryOnly.stop();
  });

  // Writes need the token; bad input is refused and changes nothing.
  assert.equal((await register(regPort, 'legacy', '127.3.0.1', {}, 'wrong')).status, 401);
  assert.equal((await register(regPort, 'legacy', 'not-an-ip')).status, 400);
  const noAz = await fetch(`http://127.0.0.1:${regPort}/v1/registration/legacy`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${TOKEN}` },
    body: new URLSearchParams({ ip: '127.3.0.9', port: '80', revision: 'r', tags: '{"region":"r"}' }),
  });
  assert.equal(noAz.status, 400);
  assert.deepEqual(await noAz.json(), {}, 'the original answers 400 {}');
  assert.match(noAz.headers.get('x-herald-reason') ?? '', /tags\.az is missing/);

  for (const ip of ['127.3.0.1', '127.3.0.2', '127.3.0.3']) assert.equal((await register(regPort, 'legacy', ip, ip.endsWith('3') ? { canary: 'true', load_balancing_weight: '7' } : {})).status, 200);
  const listed: any = await (await fetch(`http://127.0.0.1:${regPort}/v1/registration/legacy`)).json();
  assert.equal(listed.hosts.length, 3);
  assert.match(listed.hosts[0].last_check_in, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/);

  herald = await startHerald(parseConfig(stringify({ xds: { port: 0 }, admin: { port: 0 }, sources: [{ kind: 'registry', name: 'vms', url: faulty.url, services: ['legacy'], intervalMs: 150, ttlSeconds: 3 }] }), dir));
  client = new AdsClient(herald.xdsPort, 'delta');
  client.send({ node: { id: 'reg-client' }, typeUrl: typeUrl('endpoint'), resourceNamesSubscribe: ['legacy.default'] });
  let n = 0;
  const next = async () => {
    const r = await client!.next('endpoint', n++);
    client!.send({ typeUrl: typeUrl('endpoint'), responseNonce: r.nonce });
    return r;
  };
  const first = endpoints((await next()).resources.get('legacy.default'));
  assert.deepEqual(first, [
    { addr: '127.3.0.1', zone: 'zone-a', region: 'r', weight: 1, canary: undefined },
    { addr: '127.3.0.2', zone: 'zone-a', region: 'r', weight: 1, canary: undefined },
    { addr: '127.3.0.3', zone: 'zone-a', region: 'r', weight: 7, canary: 'true' },
  ]);

  // TTL: heartbeat two hosts, let the third expire (one of three: below the guard's threshold, so applied).
  const beat = setInterval(() => {
    void register(regPort, 'legacy', '127.3.0.1');
    void register(regPort, 'legacy', '127.3.0.3', { canary: 'true', load_balancing_weight: '7' });
  }, 500);
  t.after(() => clearInterval(beat));
  const expired = await next();
  assert.deepEqual(endpoints(expired.resources.get('legacy.default')).map((e) => e.addr), ['127.3.0.1', '127.3.0.3']);

  // Outage: 500s, then empty lists, then garbage. Nothing is removed; the empty list is held by the guard.
  const before = client.count('endpoint');
  faulty.set('error');
  await sleep(600);
  faulty.set('empty');
  await waitFor('the guard to hold the empty answer', async () => {
    const holds = ((await (await fetch(`http://127.0.0.1:${herald!.adminPort}/holds`)).json()) as any).holds;
    return holds.vms?.some((h: any) => h.service === 'default/legacy');
  });
  await sleep(600);
  faulty.set('garbage');
  await sleep(600);
  assert.equal(client.count('endpoint'), before, 'no update reached the proxy during the outage');
  const metrics = await (await fetch(`http://127.0.0.1:${herald.adminPort}/metrics`)).text();
  assert.match(metrics, /herald_registry_polls_total\{outcome="error",source="vms"\} [1-9]/);
  assert.match(metrics, /herald_registry_polls_total\{outcome="garbage",source="vms"\} [1-9]/);
  assert.match(metrics, /herald_guard_holds_total\{service="default\/legacy",source="vms"\} 1/);
  faulty.set('none');
  await waitFor('the hold to be released once the registry recovers', async () => {
    const holds = ((await (await fetch(`http://127.0.0.1:${herald!.adminPort}/holds`)).json()) as any).holds;
    return holds.vms?.length === 0;
  });

  // Durable: the registry server restarted on the same database still has the hosts.
  clearInterval(beat);
  await registryOnly.stop();
  const again = await startHerald(parseConfig(stringify({ registry: { port: regPort, db: 'registry.sqlite', tokenFile: 'token', ttlSeconds: 3 }, sources: [{ kind: 'file', path: 'empty.yaml' }] }), dir));
  t.after(() => again.stop());
  const after: any = await waitFor('the restarted registry to answer', async () => (await fetch(`http://127.0.0.1:${regPort}/v1/registration/legacy`)).json());
  assert.deepEqual(after.hosts.map((h: any) => h.ip_address), ['127.3.0.1', '127.3.0.3']);
  // DELETE removes one host.
  const del = await fetch(`http://127.0.0.1:${regPort}/v1/registration/legacy/127.3.0.1`, { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(del.status, 200);
  const gone = await next();
  assert.deepEqual(endpoints(gone.resources.get('legacy.default')).map((e) => e.addr), ['127.3.0.3']);
});
