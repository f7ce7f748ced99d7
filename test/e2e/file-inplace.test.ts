/**
 * Real Envoy fed from a services file that is rewritten the hostile ways: in place in chunks with pauses (short
 * ones, and one long pause mid-file), emptied, replaced by a 10 MB file, by garbage, and edited with one bad host.
 * A poller reads Envoy's /clusters all along: its host count for the service must never drop below the full set.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { stringify } from 'yaml';
import { startTestEnvoy } from '../support/envoy';
import { startTestHerald, type ServiceSpec } from '../support/herald';
import { sleep, waitFor } from '../support/wait';

const N = 400;
const spec = (port: number, extra: ServiceSpec['endpoints'] = []): ServiceSpec[] => [
  {
    name: 'web',
    policy: { healthCheck: { enabled: false } },
    endpoints: [...Array.from({ length: N }, (_, i) => ({ address: `127.0.3.${(i % 200) + 1}`, port: port + Math.floor(i / 200), zone: 'z1' })), ...extra],
  },
];

/** Truncates the file and writes `text` into it in `chunk`-byte pieces, sleeping `pauseMs` between them. */
async function writeInPlace(file: string, text: string, chunk: number, pauseMs: (offset: number) => number): Promise<void> {
  const fd = fs.openSync(file, 'r+');
  try {
    fs.ftruncateSync(fd, 0);
    for (let off = 0; off < text.length; off += chunk) {
      fs.writeSync(fd, text.slice(off, off + chunk), off);
      await sleep(pauseMs(off));
    }
  } finally {
    fs.closeSync(fd);
  }
}

test('services file written in place, emptied, oversized, garbled: real Envoy never sees a partial mesh', async (t) => {
  const h = await startTestHerald(spec(20000));
  const envoy = await startTestEnvoy({ xdsPort: h.xdsPort, protocol: 'delta', nodeId: 'file-inplace', zone: 'z1' });
  const logs: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: any, ...rest: any[]) => {
    logs.push(String(chunk));
    return (write as any)(chunk, ...rest);
  }) as typeof process.stderr.write;
  let polling = true;
  let min = Infinity;
  let polls = 0;
  const poller = (async () => {
    while (polling) {
      const n = (await envoy.hosts('web.default')).size;
      if (n > 0 || polls > 0) {
        min = Math.min(min, n);
        polls++;
      }
      await sleep(10);
    }
  })();
  t.after(async () => {
    polling = false;
    await poller;
    process.stderr.write = write;
    await envoy.stop();
    await h.stop();
  });
  const ports = async () => new Set([...(await envoy.hosts('web.default')).keys()].map((k) => Number(k.split(':')[1])));
  await waitFor('Envoy to hold the full set', async () => (await envoy.hosts('web.default')).size === N);
  const metric = async (re: RegExp) => re.test(await (await fetch(`http://127.0.0.1:${h.adminPort}/metrics`)).text());

  // In place, 2 KiB at a time with 30 ms pauses (the file is about 20 KiB): several rounds, each a new port pair.
  const served: number[] = [];
  for (const port of [21000, 22000, 23000]) {
    const text = stringify({ services: spec(port) });
    const t0 = Date.now();
    await writeInPlace(h.servicesFile, text, 2048, () => 30);
    const written = Date.now();
    await waitFor(`Envoy to get port ${port}`, async () => (await ports()).has(port) && (await envoy.hosts('web.default')).size === N, 10_000, 10);
    served.push(Date.now() - written);
    assert.ok(written - t0 > 250, 'the write took several pauses');
  }
  t.diagnostic(`in-place chunked rewrite, last write to Envoy holding it: ${served.join(', ')} ms`);

  // One long pause (1 s, far past settleMs) a third of the way in: the partial file parses but lost most
  // endpoints, so it waits for confirmation and the finished file supersedes it.
  const text = stringify({ services: spec(24000) });
  const cut = text.indexOf('\n', Math.floor(text.length / 3)) + 1;
  await writeInPlace(h.servicesFile, text, cut, (off) => (off === 0 ? 1000 : 0));
  await waitFor('Envoy to get port 24000', async () => (await ports()).has(24000), 10_000, 10);
  assert.ok(await metric(/herald_file_rejects_total\{reason="suspicious",source="file"\} [1-9]/), 'the partial version was flagged');

  // Emptied: refused, the last good config stays, also past the confirmation time.
  fs.truncateSync(h.servicesFile, 0);
  await waitFor('the empty file to be refused', () => metric(/herald_file_rejects_total\{reason="empty",source="file"\} 1/));
  await sleep(2500);
  assert.equal((await envoy.hosts('web.default')).size, N);
  assert.ok(logs.some((l) => l.includes('services file is empty') && l.includes(h.servicesFile)), 'the log line names the file');

  // 10 MB: refused after one stat, naming the file and the limit.
  fs.writeFileSync(`${h.servicesFile}.tmp`, '#'.repeat(10 * 1024 * 1024));
  fs.renameSync(`${h.servicesFile}.tmp`, h.servicesFile);
  await waitFor('the oversize file to be refused', () => metric(/herald_file_rejects_total\{reason="too-big",source="file"\} 1/));
  assert.ok(logs.some((l) => l.includes('over the limit of 8388608') && l.includes(h.servicesFile)));

  // Garbage: refused whole.
  fs.writeFileSync(h.servicesFile, 'services: [ {{{ \u0000\u0001 not yaml');
  await waitFor('the garbage file to be refused', () => metric(/herald_file_rejects_total\{reason="invalid",source="file"\} 1/));
  assert.equal((await envoy.hosts('web.default')).size, N);
  assert.equal((await fetch(`http://127.0.0.1:${h.adminPort}/healthz`)).status, 200);

  // One bad host (an IPv6 zone id) among good ones: skipped, the new good host arrives.
  h.writeServices(spec(24000, [{ address: 'fe80::1%eth0', port: 80 }, { address: '127.0.4.1', port: 80 }]));
  await waitFor('the new good host', async () => (await envoy.hosts('web.default')).has('127.0.4.1:80'));
  assert.equal((await envoy.hosts('web.default')).size, N + 1);
  assert.ok(await metric(/herald_file_skipped_endpoints_total\{source="file"\} 1/));
  assert.ok(logs.some((l) => l.includes('an IPv6 zone id') && l.includes('services[0].endpoints[400].address')));

  polling = false;
  await poller;
  t.diagnostic(`Envoy /clusters polled ${polls} times; fewest hosts seen: ${min} (full set ${N})`);
  assert.ok(polls > 100);
  assert.ok(min >= N, `Envoy saw ${min} hosts, fewer than the full set of ${N}`);
});
