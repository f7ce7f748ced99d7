/**
 * The node agent's splice (every byte between the host and the node's namespace goes through it): a clean close
 * ends the other side only after everything piped into it is written, a reset on a TCP side is a reset on the
 * other, and a failing side next to a unix socket (which has no reset) closes it without throwing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { splice } from '../src/node/agent';

/** A TCP server on loopback whose connections `serve` handles; its port and a close. */
async function server(serve: (c: net.Socket) => void): Promise<{ port: number; close: () => void }> {
  const s = net.createServer(serve);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return { port: (s.address() as net.AddressInfo).port, close: () => s.close() };
}

/** A front server whose connections are spliced to `connect()`; what a client of it sees. */
async function front(connect: () => net.Socket): Promise<{ port: number; close: () => void }> {
  return server((c) => splice(c, connect()));
}

function exchange(port: number): Promise<{ bytes: number; error?: string }> {
  return new Promise((resolve) => {
    let bytes = 0;
    const c = net.connect(port, '127.0.0.1');
    c.on('data', (d) => (bytes += d.length));
    c.on('error', (e: NodeJS.ErrnoException) => resolve({ bytes, error: e.code ?? e.message }));
    c.on('end', () => resolve({ bytes }));
  });
}

test('splice: a clean close delivers every byte first (4 MiB written, then end)', async () => {
  const payload = Buffer.alloc(4 << 20, 7);
  const back = await server((c) => c.end(payload));
  const f = await front(() => net.connect(back.port, '127.0.0.1'));
  try {
    assert.deepEqual(await exchange(f.port), { bytes: payload.length });
  } finally {
    f.close();
    back.close();
  }
});

test('splice: a reset on one TCP side is a reset on the other', async () => {
  const back = await server((c) => c.resetAndDestroy());
  const f = await front(() => net.connect(back.port, '127.0.0.1'));
  try {
    assert.equal((await exchange(f.port)).error, 'ECONNRESET');
  } finally {
    f.close();
    back.close();
  }
});

test('splice: a failing side next to a unix socket closes it without throwing', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-splice-'));
  const sock = path.join(dir, 's');
  let u: net.Server | undefined;
  const closed = new Promise<void>((resolve) => {
    u = net.createServer((c) => {
      c.on('error', () => undefined);
      c.on('close', () => resolve());
      // The TCP side: a connection to a port nobody listens on fails (ECONNREFUSED) and must close this one.
      splice(c, net.connect(1, '127.0.0.1'));
    });
  });
  await new Promise<void>((r) => u!.listen(sock, () => r()));
  const client = net.connect(sock);
  client.on('error', () => undefined);
  await closed;
  client.destroy();
  u!.close();
  fs.rmSync(dir, { recursive: true, force: true });
});
