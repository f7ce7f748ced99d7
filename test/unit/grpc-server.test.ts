/**
 * The gRPC transport (src/xds/grpc-server.ts) against a real HTTP/2 client (node:http2) and grpc-js's client:
 * message framing whatever the DATA frames, the bounds (oversize, compression, unknown methods, content type),
 * trailers and trailers-only statuses, and large writes arriving whole.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { GrpcServer, Status, encodeGrpcMessage, type CallHandler, type GrpcCall } from '../../src/xds/grpc-server';

const PATH = '/test.Echo/Stream';

async function serve(handler: (call: GrpcCall) => void, maxMessageBytes = 1024, maxStreamsPerConnection = 100): Promise<{ server: GrpcServer; port: number }> {
  const server = new GrpcServer({ maxMessageBytes, keepaliveTimeMs: 30_000, keepaliveTimeoutMs: 10_000, maxStreamsPerConnection, onError: () => undefined });
  server.handle(PATH, handler);
  const port = await server.listen('127.0.0.1', 0, 16);
  return { server, port };
}

/** Sets the call's handler: the given callbacks, the rest doing nothing. */
function on(call: GrpcCall, h: Partial<CallHandler>): void {
  call.handler = { message: () => undefined, oversize: () => undefined, end: () => undefined, gone: () => undefined, drained: () => undefined, ...h };
}

function framed(body: Buffer, flag = 0): Buffer {
  const out = Buffer.alloc(5 + body.length);
  out[0] = flag;
  out.writeUInt32BE(body.length, 1);
  body.copy(out, 5);
  return out;
}

/** A raw HTTP/2 request: what it received (headers, body bytes, trailers) once the stream closed. */
function request(port: number, headers: http2.OutgoingHttpHeaders, send: (s: http2.ClientHttp2Stream) => void): Promise<{ headers: http2.IncomingHttpHeaders; trailers: http2.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const s = session.request({ ':method': 'POST', ':path': PATH, 'content-type': 'application/grpc', te: 'trailers', ...headers });
    let got: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    s.on('response', (h) => (got = h));
    s.on('trailers', (t) => (trailers = t));
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', () => undefined);
    s.on('close', () => {
      session.close();
      resolve({ headers: got, trailers, body: Buffer.concat(chunks) });
    });
    send(s);
  });
}

test('a message split byte by byte across DATA frames is delivered whole, and several in one frame one by one', async (t) => {
  const seen: string[] = [];
  const { server, port } = await serve((call) =>
    on(call, {
      message: (m) => {
        seen.push(m.toString());
        if (seen.length === 3) call.end(Status.OK);
      },
    }),
  );
  t.after(() => server.close());
  const one = framed(Buffer.from('hello'));
  const two = Buffer.concat([framed(Buffer.from('')), framed(Buffer.from('world'))]);
  const r = await request(port, {}, (s) => {
    let i = 0;
    const next = () => {
      if (i < one.length) s.write(one.subarray(i, ++i), next);
      else s.write(two);
    };
    next();
  });
  assert.deepEqual(seen, ['hello', '', 'world']);
  assert.equal(r.headers['grpc-status'], '0', 'nothing written: a trailers-only response');
});

test('a declared length over the limit is reported before its body arrives; nothing more is read', async (t) => {
  const events: string[] = [];
  const { server, port } = await serve(
    (call) =>
      on(call, {
        message: () => events.push('message'),
        oversize: (n) => {
          events.push(`oversize ${n}`);
          call.end(Status.RESOURCE_EXHAUSTED, 'too big');
        },
      }),
    1024,
  );
  t.after(() => server.close());
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(10 << 20, 1);
  // Only the prefix is sent: the status must come without the 10 MB body.
  const r = await request(port, {}, (s) => s.write(prefix));
  assert.deepEqual(events, [`oversize ${10 << 20}`]);
  assert.equal(r.headers['grpc-status'], String(Status.RESOURCE_EXHAUSTED));
  assert.equal(r.headers['grpc-message'], 'too big');
});

test('compressed messages, unknown methods, unsupported encodings and non-gRPC requests: no message reaches a handler', async (t) => {
  let calls = 0;
  const { server, port } = await serve((call) => {
    calls++;
    on(call, { message: () => assert.fail('no message may arrive') });
  });
  t.after(() => server.close());
  const compressed = await request(port, {}, (s) => s.end(framed(Buffer.from('x'), 1)));
  assert.equal(compressed.headers['grpc-status'] ?? compressed.trailers['grpc-status'], String(Status.UNIMPLEMENTED));
  const unknown = await request(port, { ':path': '/test.Echo/Nope' }, (s) => s.end());
  assert.equal(unknown.headers['grpc-status'], String(Status.UNIMPLEMENTED));
  assert.match(decodeURIComponent(String(unknown.headers['grpc-message'])), /unknown method \/test\.Echo\/Nope/);
  const gzip = await request(port, { 'grpc-encoding': 'gzip' }, (s) => s.end());
  assert.equal(gzip.headers['grpc-status'], String(Status.UNIMPLEMENTED));
  const json = await request(port, { 'content-type': 'application/json' }, (s) => s.end());
  assert.equal(json.headers[':status'], 415);
  assert.equal(calls, 1, 'only the compressed request had a handler (the call it got was ended by the transport)');
});

test('a status after responses goes in trailers, details percent-encoded; a large write arrives whole, its chunks in order', async (t) => {
  const big = Buffer.alloc(300_000, 7);
  big.write('head', 0);
  big.write('tail', big.length - 4);
  const { server, port } = await serve((call) =>
    on(call, {
      message: () => {
        // head, a small middle part of this stream's own, tail: as Herald writes a shared response around its nonce.
        const a = big.subarray(0, 200_000);
        const b = Buffer.from('-nonce-');
        const c = big.subarray(200_000);
        call.write([a, b, c], a.length + b.length + c.length, () => call.end(Status.INVALID_ARGUMENT, 'bad: 100% «wrong»\n'));
      },
    }),
  );
  t.after(() => server.close());
  const r = await request(port, {}, (s) => s.write(framed(Buffer.from('go'))));
  assert.equal(r.headers[':status'], 200);
  assert.equal(r.body[0], 0);
  assert.equal(r.body.readUInt32BE(1), big.length + 7);
  const body = r.body.subarray(5);
  assert.equal(body.length, big.length + 7);
  assert.equal(body.subarray(0, 4).toString(), 'head');
  assert.equal(body.subarray(200_000, 200_007).toString(), '-nonce-');
  assert.equal(body.subarray(body.length - 4).toString(), 'tail');
  assert.equal(r.trailers['grpc-status'], String(Status.INVALID_ARGUMENT));
  assert.equal(r.trailers['grpc-message'], encodeGrpcMessage('bad: 100% «wrong»\n'));
  assert.equal(decodeURIComponent(String(r.trailers['grpc-message'])), 'bad: 100% «wrong»\n');
});

test("grpc-js's client: messages both ways, the status and its details as sent", async (t) => {
  const { server, port } = await serve((call) =>
    on(call, {
      message: (m) => {
        const reply = Buffer.from(`echo ${m.toString()}`);
        call.write([reply], reply.length, () => undefined);
      },
      end: () => call.end(Status.FAILED_PRECONDITION, 'done: ünïcode'),
    }),
  );
  t.after(() => server.close());
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  t.after(() => client.close());
  const id = (b: Buffer) => b;
  const call = client.makeBidiStreamRequest<Buffer, Buffer>(PATH, id, id);
  const got: string[] = [];
  call.on('data', (b: Buffer) => got.push(b.toString()));
  const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  call.on('error', () => undefined);
  call.write(Buffer.from('a'));
  call.write(Buffer.from('b'));
  call.end();
  const s = await status;
  assert.deepEqual(got, ['echo a', 'echo b']);
  assert.equal(s.code, grpc.status.FAILED_PRECONDITION);
  assert.equal(s.details, 'done: ünïcode');
});

test('reset() sends RST_STREAM CANCEL and drops what was queued', async (t) => {
  const { server, port } = await serve((call) =>
    on(call, {
      message: () => {
        const junk = Buffer.alloc(1 << 20);
        call.write([junk], junk.length, () => undefined);
        call.reset();
      },
    }),
  );
  t.after(() => server.close());
  const rst = await new Promise<number>((resolve) => {
    const session = http2.connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize: 0 } });
    session.on('error', () => undefined);
    const s = session.request({ ':method': 'POST', ':path': PATH, 'content-type': 'application/grpc' });
    s.on('error', () => undefined);
    s.on('close', () => {
      resolve(s.rstCode);
      session.close();
    });
    s.write(framed(Buffer.from('x')));
  });
  assert.equal(rst, http2.constants.NGHTTP2_CANCEL);
});

test('a status queued behind data the client never reads: the stream is reset (CANCEL) after the linger, freeing it', async (t) => {
  let gone = false;
  const { server, port } = await serve((call) =>
    on(call, {
      message: () => {
        const junk = Buffer.alloc(1 << 20);
        call.write([junk], junk.length, () => undefined);
        call.end(Status.INVALID_ARGUMENT, 'never read');
      },
      gone: () => (gone = true),
    }),
  );
  t.after(() => server.close());
  const rst = await new Promise<number>((resolve) => {
    const session = http2.connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize: 0 } });
    session.on('error', () => undefined);
    const s = session.request({ ':method': 'POST', ':path': PATH, 'content-type': 'application/grpc' });
    s.on('error', () => undefined);
    s.on('close', () => {
      resolve(s.rstCode);
      session.close();
    });
    s.write(framed(Buffer.from('x')));
  });
  assert.equal(rst, http2.constants.NGHTTP2_CANCEL);
  assert.ok(gone, 'the handler heard the stream go');
});

/** An HTTP/2 frame: 9-byte header (length, type, flags, stream id) and payload. */
function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId, 5);
  return Buffer.concat([h, payload]);
}

/** HPACK literal header fields without indexing, new names (RFC 7541 6.2.2); names and values under 127 bytes. */
function hpack(headers: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(headers)) parts.push(Buffer.from([0, k.length]), Buffer.from(k), Buffer.from([v.length]), Buffer.from(v));
  return Buffer.concat(parts);
}

test('a client that ignores SETTINGS_MAX_CONCURRENT_STREAMS has the streams past it refused, and no handler hears of them', async (t) => {
  let calls = 0;
  const { server, port } = await serve((call) => {
    calls++;
    on(call, {});
  }, 1024, 4);
  t.after(() => server.close());
  // A raw HTTP/2 client (node:http2's own would queue the streams past the server's limit, as an honest client does).
  const resets = await new Promise<Map<number, number>>((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const resets = new Map<number, number>();
    let buf = Buffer.alloc(0);
    const headers = hpack({ ':method': 'POST', ':scheme': 'http', ':path': PATH, ':authority': 'x', 'content-type': 'application/grpc', te: 'trailers' });
    socket.on('connect', () => {
      socket.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(4, 0, 0, Buffer.alloc(0))]));
      // 4 within the limit, then 150 more: HEADERS without END_STREAM, so each would stay open.
      for (let i = 0; i < 154; i++) socket.write(frame(1, 0x4, 1 + 2 * i, headers));
    });
    socket.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) break;
        const type = buf[3]!;
        const flags = buf[4]!;
        const id = buf.readUInt32BE(5) & 0x7fffffff;
        const payload = buf.subarray(9, 9 + len);
        if (type === 4 && !(flags & 1)) socket.write(frame(4, 1, 0, Buffer.alloc(0)));
        if (type === 3) resets.set(id, payload.readUInt32BE(0));
        buf = buf.subarray(9 + len);
        if (resets.size === 150) {
          socket.destroy();
          resolve(resets);
        }
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(resets));
  });
  for (const id of [1, 3, 5, 7]) assert.equal(resets.has(id), false, `stream ${id}, within the limit, was not refused`);
  assert.equal(resets.size, 150, 'every stream past the limit was refused');
  assert.ok([...resets.values()].every((code) => code === http2.constants.NGHTTP2_REFUSED_STREAM), `RST_STREAM REFUSED_STREAM: ${JSON.stringify([...resets].slice(0, 3))}`);
  assert.equal(calls, 4, 'only the streams within the limit reached the server');
});
