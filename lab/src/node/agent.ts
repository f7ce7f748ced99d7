/**
 * The node agent: the one process of the harness that lives inside the node's network namespace
 * (started with `nsenter --net=…`, see node.ts). Unix sockets are files, so they cross network
 * namespaces; the agent uses that to join the two sides without routing anything:
 *
 * - exports: it listens on TCP inside the namespace (e.g. 0.0.0.0:<apiserver port>) and pipes each
 *   connection to a unix socket that the harness serves on the host side (→ 127.0.0.1:<port> there).
 *   That is how the kubelet, kube-proxy and pods reach the apiserver, which runs on host loopback.
 * - the way in: a unix socket on which each connection starts with one line `<ipv4>:<port>\n`; the
 *   agent connects to that address inside the namespace and pipes. That is how the test reaches pods.
 * - cluster DNS on UDP (dns.ts), answering from a JSON file of records that the harness rewrites.
 *
 * Usage: node agent.js <config.json> (AgentConfig). Logs one line per problem to stdout; never exits on
 * a bad connection or message. Bounds: the first line of a way-in connection is at most 64 bytes and
 * must name an IPv4 address and port; DNS queries are at most 512 bytes.
 */
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { answerQuery } from './dns';

export interface AgentConfig {
  exports: { host: string; port: number; socket: string }[];
  /** The way in (host → namespace). */
  inSocket: string;
  dns?: { host: string; port: number; recordsFile: string };
}

const MAX_TARGET_LINE = 64;

function log(msg: string): void {
  process.stdout.write(`${new Date().toISOString()} agent: ${msg}\n`);
}

/**
 * Pipes a and b both ways. A side that fails resets the other (a reset inside is a reset outside); a side that
 * closes cleanly ends the other after what was piped into it is written (never cutting a response's tail).
 */
export function splice(a: net.Socket, b: net.Socket): void {
  const link = (from: net.Socket, to: net.Socket) => {
    let failed = false;
    from.on('error', () => {
      failed = true;
      if (to.destroyed) return;
      try {
        to.resetAndDestroy(); // TCP: an RST, as the failed side saw
      } catch {
        to.destroy(); // a unix socket has no reset (ERR_INVALID_HANDLE_TYPE)
      }
    });
    from.on('close', () => {
      if (!failed && !to.destroyed) to.end();
    });
    from.pipe(to);
  };
  link(a, b);
  link(b, a);
}

/** Parses `<ipv4>:<port>`; undefined when it is anything else. */
export function parseTarget(line: string): { host: string; port: number } | undefined {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(line.trim());
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port < 1 || port > 65535 || m[1]!.split('.').some((o) => Number(o) > 255)) return undefined;
  return { host: m[1]!, port };
}

function serveExports(cfg: AgentConfig): void {
  for (const e of cfg.exports) {
    const srv = net.createServer((conn) => splice(conn, net.connect({ path: e.socket })));
    srv.on('error', (err) => log(`export ${e.host}:${e.port}: ${err.message}`));
    srv.listen(e.port, e.host, () => log(`export ${e.host}:${e.port} → ${e.socket}`));
  }
}

function serveWayIn(cfg: AgentConfig): void {
  fs.rmSync(cfg.inSocket, { force: true });
  const srv = net.createServer((conn) => {
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const nl = head.indexOf(10);
      if (nl < 0) {
        if (head.length > MAX_TARGET_LINE) {
          log('way in: first line too long; closed');
          conn.destroy();
        }
        return;
      }
      conn.off('data', onData);
      conn.pause();
      const target = parseTarget(head.subarray(0, nl).toString('latin1'));
      if (!target) {
        log(`way in: bad target ${JSON.stringify(head.subarray(0, Math.min(nl, MAX_TARGET_LINE)).toString('latin1'))}; closed`);
        conn.destroy();
        return;
      }
      const out = net.connect(target.port, target.host);
      const rest = head.subarray(nl + 1);
      if (rest.length > 0) out.write(rest);
      splice(conn, out);
      conn.resume();
    };
    conn.on('data', onData);
    conn.on('error', () => conn.destroy());
  });
  srv.on('error', (err) => log(`way in: ${err.message}`));
  srv.listen(cfg.inSocket, () => log(`way in on ${cfg.inSocket}`));
}

function serveDns(dns: NonNullable<AgentConfig['dns']>): void {
  let records: Record<string, string> = {};
  let mtime = -1;
  let dropped = 0;
  const lookup = (name: string): string | undefined => {
    try {
      const st = fs.statSync(dns.recordsFile);
      if (st.mtimeMs !== mtime) {
        records = JSON.parse(fs.readFileSync(dns.recordsFile, 'utf8')) as Record<string, string>;
        mtime = st.mtimeMs;
      }
    } catch {
      /* keep the last records; the file is replaced by rename, so a torn read is only a missing file */
    }
    return Object.hasOwn(records, name) ? records[name] : undefined;
  };
  const sock = dgram.createSocket('udp4');
  sock.on('message', (msg, rinfo) => {
    const reply = answerQuery(msg, lookup);
    if (!reply) {
      dropped += 1;
      if (dropped === 1 || dropped % 100 === 0) log(`dns: ${dropped} malformed queries dropped (last from ${rinfo.address})`);
      return;
    }
    sock.send(reply, rinfo.port, rinfo.address);
  });
  sock.on('error', (err) => log(`dns: ${err.message}`));
  sock.bind(dns.port, dns.host, () => log(`dns on ${dns.host}:${dns.port}`));
}

function main(): void {
  const path = process.argv[2];
  if (!path) {
    process.stderr.write('usage: agent.js <config.json>\n');
    process.exit(2);
  }
  const cfg = JSON.parse(fs.readFileSync(path, 'utf8')) as AgentConfig;
  serveExports(cfg);
  serveWayIn(cfg);
  if (cfg.dns) serveDns(cfg.dns);
}

if (require.main === module) main();
