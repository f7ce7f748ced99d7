/**
 * `herald status`: one line per connected proxy, from one or more Herald replicas' /status, with per type
 * (CDS/EDS/LDS/RDS) SYNCED, STALE (with the age of the unacknowledged response, or how many resources wait),
 * NACK (with the message) or NOT SENT. The exit status is 1 when a proxy NACKed or a response waited for its ACK
 * longer than --stale-after-ms; 2 on usage or connection errors. `--json` prints the documented shape:
 *
 *   { "replicas": [{ "admin": url, "ready": bool, "error"?: string }],
 *     "proxies": [{ "replica": url, "streamId", "nodeId", "service", "protocol", "view", "peer", "connectedAt",
 *                   "types": { "CDS": { "state", "ageMs"?, "behind", "version", "message"? }, … } }],
 *     "problems": [string] }
 */
import { parseArgs } from 'node:util';
import type { ProxyStatus, TypeStatus } from '../admin/status';
import { adminUrls, getJson } from './admin-client';

export const STATUS_USAGE = `usage: herald status [--admin URL[,URL...]] [--service S] [--stale] [--nack] [--json] [--stale-after-ms N]
  --admin          Herald admin API(s), comma-separated (default http://127.0.0.1:18001); replicas are merged
  --service S      only proxies whose node.cluster is S
  --stale          only proxies with a STALE type;  --nack  only proxies with a NACK
  --stale-after-ms a response unacknowledged for longer than this is a problem (default 10000)
  --json           print JSON (shape in src/cli/status.ts)
exit status: 0 all fine, 1 a NACK or a response stale past the threshold, 2 usage or unreachable admin
`;

const TYPES = ['CDS', 'EDS', 'LDS', 'RDS'] as const;

export interface StatusReport {
  readonly replicas: Array<{ admin: string; ready: boolean; error?: string }>;
  readonly proxies: Array<ProxyStatus & { replica: string }>;
  readonly problems: string[];
}

/** Reads every replica and merges them; an unreachable replica is reported, not fatal unless all are. */
export async function collectStatus(admins: readonly string[], staleAfterMs: number): Promise<StatusReport> {
  const replicas: StatusReport['replicas'] = [];
  const proxies: StatusReport['proxies'] = [];
  await Promise.all(
    admins.map(async (admin) => {
      try {
        const body = await getJson(`${admin}/status`);
        replicas.push({ admin, ready: body.ready === true });
        for (const p of body.proxies as ProxyStatus[]) proxies.push({ ...p, replica: admin });
      } catch (err) {
        replicas.push({ admin, ready: false, error: (err as Error).message });
      }
    }),
  );
  replicas.sort((a, b) => admins.indexOf(a.admin) - admins.indexOf(b.admin));
  proxies.sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : a.replica < b.replica ? -1 : a.replica > b.replica ? 1 : a.streamId - b.streamId));
  const problems: string[] = [];
  for (const p of proxies) {
    for (const [type, t] of Object.entries(p.types) as Array<[string, TypeStatus]>) {
      if (t.state === 'NACK') problems.push(`${p.nodeId} ${type}: NACK ${t.message ?? ''}`.trim());
      else if (t.state === 'STALE' && (t.ageMs ?? 0) > staleAfterMs) problems.push(`${p.nodeId} ${type}: unacknowledged for ${Math.round(t.ageMs!)} ms`);
    }
  }
  return { replicas, proxies, problems };
}

function cell(t: TypeStatus | undefined): string {
  if (!t) return '-';
  if (t.state === 'STALE') return t.ageMs !== undefined ? `STALE ${fmtMs(t.ageMs)}` : `STALE ${t.behind} behind`;
  if (t.state === 'NACK') return `NACK: ${shorten(t.message ?? '', 80)}`;
  return t.state;
}

/** Envoy's NACK messages open with a dump of the rejected resource and end with the reason: keep the end. */
function shorten(message: string, max: number): string {
  const flat = message.replace(/\s+/g, ' ').trim();
  return flat.length <= max ? flat : `…${flat.slice(flat.length - max + 1)}`;
}

function fmtMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)}ms` : `${(ms / 1000).toFixed(1)}s`;
}

function since(iso: string, now: number): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
}

export function renderStatus(r: StatusReport, now = Date.now()): string {
  const many = r.replicas.length > 1;
  const head = ['NODE', 'SERVICE', 'PROTO', 'VIEW', 'CONNECTED', ...TYPES, ...(many ? ['REPLICA'] : [])];
  const rows = r.proxies.map((p) => [p.nodeId, p.service, p.protocol, p.view, since(p.connectedAt, now), ...TYPES.map((k) => cell(p.types[k])), ...(many ? [p.replica] : [])]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  const out = [line(head), ...rows.map(line)];
  for (const rep of r.replicas) if (rep.error) out.push(`replica ${rep.admin}: ${rep.error}`);
  else if (!rep.ready) out.push(`replica ${rep.admin}: not ready (sources not synced)`);
  return out.join('\n') + '\n';
}

export async function status(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      admin: { type: 'string' },
      service: { type: 'string' },
      stale: { type: 'boolean' },
      nack: { type: 'boolean' },
      json: { type: 'boolean' },
      'stale-after-ms': { type: 'string', default: '10000' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const staleAfterMs = Number(values['stale-after-ms']);
  if (values.help || !Number.isFinite(staleAfterMs) || staleAfterMs < 0) {
    process.stdout.write(STATUS_USAGE);
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  const report = await collectStatus(adminUrls(values.admin), staleAfterMs);
  const shown = report.proxies.filter((p) => {
    if (values.service !== undefined && p.service !== values.service) return false;
    const states = Object.values(p.types).map((t) => t!.state);
    if (values.stale && !states.includes('STALE')) return false;
    if (values.nack && !states.includes('NACK')) return false;
    return true;
  });
  const filtered = { ...report, proxies: shown };
  process.stdout.write(values.json ? JSON.stringify(filtered, null, 2) + '\n' : renderStatus(filtered));
  if (report.replicas.every((r) => r.error)) process.exitCode = 2;
  else if (report.problems.length > 0) {
    if (!values.json) process.stderr.write(report.problems.map((p) => `problem: ${p}`).join('\n') + '\n');
    process.exitCode = 1;
  }
}
