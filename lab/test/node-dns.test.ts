/**
 * The real node's small pure parts: the stand-in cluster DNS (lab/src/node/dns.ts, also answered to
 * Node's own resolver over UDP on loopback), the agent's way-in target line, and containerd's CRI
 * log lines.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { answerQuery, MAX_QUERY_BYTES, parseQuery, serviceRecords } from '../src/node/dns';
import { parseTarget } from '../src/node/agent';
import { parseCriLog } from '../src/node/node';

function query(name: string, type = 1, flags = 0x0100): Buffer {
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  const header = Buffer.alloc(12);
  header.writeUInt16BE(0x1234, 0);
  header.writeUInt16BE(flags, 2);
  header.writeUInt16BE(1, 4);
  const tail = Buffer.alloc(5);
  tail.writeUInt16BE(type, 1);
  tail.writeUInt16BE(1, 3);
  return Buffer.concat([header, ...labels, tail]);
}

const RECORDS: Record<string, string> = { 'herald-xds.herald-system.svc.cluster.local': '10.213.128.7' };
const lookup = (n: string) => RECORDS[n];

test('dns: answers', () => {
  const cases: Record<string, { msg: Buffer; rcode?: number; answers?: number; ip?: string; dropped?: true }> = {
    'A of a Service': { msg: query('herald-xds.herald-system.svc.cluster.local'), rcode: 0, answers: 1, ip: '10.213.128.7' },
    'A, mixed case': { msg: query('Herald-XDS.herald-system.svc.cluster.local'), rcode: 0, answers: 1, ip: '10.213.128.7' },
    'AAAA of a Service: NOERROR, no answer': { msg: query('herald-xds.herald-system.svc.cluster.local', 28), rcode: 0, answers: 0 },
    'unknown name: NXDOMAIN, nothing forwarded': { msg: query('example.com'), rcode: 3, answers: 0 },
    'search-domain miss: NXDOMAIN': { msg: query('herald-xds.herald-system.svc.cluster.local.herald-example.svc.cluster.local'), rcode: 3, answers: 0 },
    'opcode other than QUERY: NOTIMP': { msg: query('herald-xds.herald-system.svc.cluster.local', 1, 0x0900), rcode: 4, answers: 0 },
    'a response, not a query: dropped': { msg: query('x', 1, 0x8000), dropped: true },
    'truncated: dropped': { msg: query('herald-xds.herald-system').subarray(0, 20), dropped: true },
    'too short: dropped': { msg: Buffer.alloc(5), dropped: true },
    'oversized: dropped': { msg: Buffer.concat([query('a'), Buffer.alloc(MAX_QUERY_BYTES)]), dropped: true },
    'label too long: dropped': { msg: query('a'.repeat(64)), dropped: true },
  };
  for (const [name, c] of Object.entries(cases)) {
    const reply = answerQuery(c.msg, lookup);
    if (c.dropped) {
      assert.equal(reply, undefined, name);
      continue;
    }
    assert.ok(reply, name);
    assert.equal(reply.readUInt16BE(0), 0x1234, `${name}: id`);
    const flags = reply.readUInt16BE(2);
    assert.ok(flags & 0x8000 && flags & 0x0400, `${name}: QR and AA`);
    assert.equal(flags & 0xf, c.rcode, `${name}: rcode`);
    assert.equal(reply.readUInt16BE(6), c.answers, `${name}: answers`);
    if (c.ip) assert.equal([...reply.subarray(reply.length - 4)].join('.'), c.ip, `${name}: address`);
  }
  assert.equal(parseQuery(query('a.b'))?.name, 'a.b');
});

test('dns: Node\'s resolver gets the A record over UDP and NXDOMAIN for the rest', async (t) => {
  const sock = dgram.createSocket('udp4');
  sock.on('message', (m, r) => {
    const reply = answerQuery(m, lookup);
    if (reply) sock.send(reply, r.port, r.address);
  });
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
  t.after(() => sock.close());
  const resolver = new Resolver({ timeout: 2_000, tries: 1 });
  resolver.setServers([`127.0.0.1:${sock.address().port}`]);
  assert.deepEqual(await resolver.resolve4('herald-xds.herald-system.svc.cluster.local'), ['10.213.128.7']);
  await assert.rejects(resolver.resolve4('web.example.com'), { code: 'ENOTFOUND' });
});

test('dns: records of Services', () => {
  assert.deepEqual(
    serviceRecords([
      { metadata: { name: 'herald-xds', namespace: 'herald-system' }, spec: { clusterIP: '10.213.128.7' } },
      { metadata: { name: 'headless', namespace: 'a' }, spec: { clusterIP: 'None' } },
      { metadata: { name: 'v6', namespace: 'a' }, spec: { clusterIP: 'fd00::1' } },
      { metadata: { name: 'no-ip', namespace: 'a' }, spec: {} },
    ]),
    { 'herald-xds.herald-system.svc.cluster.local': '10.213.128.7' },
  );
});

test('agent: way-in target line', () => {
  const cases: Record<string, ReturnType<typeof parseTarget>> = {
    '10.213.1.5:8081': { host: '10.213.1.5', port: 8081 },
    ' 10.213.1.5:80 ': { host: '10.213.1.5', port: 80 },
    '10.213.1.5:0': undefined,
    '10.213.1.5:65536': undefined,
    '300.1.1.1:80': undefined,
    'example.com:80': undefined,
    '[::1]:80': undefined,
    '10.213.1.5': undefined,
  };
  for (const [line, want] of Object.entries(cases)) assert.deepEqual(parseTarget(line), want, line);
});

test('CRI log lines: nanosecond timestamps, streams, partial lines joined, junk skipped', () => {
  const lines = parseCriLog(
    [
      '2026-12-01T07:58:47.158678049Z stderr F echo listening on :8080',
      '2026-12-01T07:58:48.000000001Z stdout P part one, ',
      '2026-12-01T07:58:48.000000002Z stdout F part two',
      'not a log line',
      '2026-12-01T07:58:49Z stdout F no fraction',
      '',
    ].join('\n'),
  );
  assert.deepEqual(lines.map((l) => [l.stream, l.text]), [
    ['stderr', 'echo listening on :8080'],
    ['stdout', 'part one, part two'],
    ['stdout', 'no fraction'],
  ]);
  assert.equal(lines[0]!.timeMs, Date.parse('2026-12-01T07:58:47Z') + 158.678049);
  assert.ok(lines[1]!.timeMs > lines[0]!.timeMs);
});
