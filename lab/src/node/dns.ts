/**
 * The cluster DNS that stands in for CoreDNS on the real node: A records of Services' ClusterIPs as
 * `<service>.<namespace>.svc.<domain>`, nothing else. Pure encode/decode here; agent.ts serves it on UDP.
 *
 * Contract: answerQuery() never throws. A malformed or oversized message yields undefined (dropped,
 * counted by the caller); a well-formed query gets an authoritative answer: the A record for a known
 * name, an empty NOERROR for another type of a known name, NXDOMAIN for any other name (nothing is
 * forwarded anywhere), NOTIMP for an opcode other than QUERY.
 */

/** Largest query accepted (plain DNS over UDP). */
export const MAX_QUERY_BYTES = 512;
const TYPE_A = 1;
const CLASS_IN = 1;
const TTL_SECONDS = 5;

export interface Question {
  id: number;
  flags: number;
  /** Lower-cased, without the trailing dot. */
  name: string;
  type: number;
  klass: number;
  /** Offset just after the question section (the bytes echoed back). */
  end: number;
}

/** Parses the header and the first question; undefined when malformed. No compression in queries. */
export function parseQuery(msg: Buffer): Question | undefined {
  if (msg.length < 12 || msg.length > MAX_QUERY_BYTES) return undefined;
  const flags = msg.readUInt16BE(2);
  if (flags & 0x8000) return undefined; // a response, not a query
  if (msg.readUInt16BE(4) !== 1) return undefined; // exactly one question
  const labels: string[] = [];
  let off = 12;
  for (;;) {
    if (off >= msg.length) return undefined;
    const len = msg[off]!;
    off += 1;
    if (len === 0) break;
    if (len > 63 || off + len > msg.length) return undefined;
    labels.push(msg.toString('latin1', off, off + len).toLowerCase());
    off += len;
    if (labels.join('.').length > 253) return undefined;
  }
  if (off + 4 > msg.length) return undefined;
  return { id: msg.readUInt16BE(0), flags, name: labels.join('.'), type: msg.readUInt16BE(off), klass: msg.readUInt16BE(off + 2), end: off + 4 };
}

/** `lookup(name)` gives the IPv4 address of a name, or undefined. */
export function answerQuery(msg: Buffer, lookup: (name: string) => string | undefined): Buffer | undefined {
  const q = parseQuery(msg);
  if (!q) return undefined;
  const opcode = (q.flags >> 11) & 0xf;
  const ip = opcode === 0 ? lookup(q.name) : undefined;
  const rcode = opcode !== 0 ? 4 : ip === undefined ? 3 : 0;
  const withAnswer = ip !== undefined && q.type === TYPE_A && q.klass === CLASS_IN;
  const header = Buffer.alloc(12);
  header.writeUInt16BE(q.id, 0);
  // QR, opcode echoed, AA, RD echoed, RA off (nothing recursive here), rcode.
  header.writeUInt16BE(0x8000 | (q.flags & 0x7800) | 0x0400 | (q.flags & 0x0100) | rcode, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(withAnswer ? 1 : 0, 6);
  const question = msg.subarray(12, q.end);
  if (!withAnswer) return Buffer.concat([header, question]);
  const answer = Buffer.alloc(16);
  answer.writeUInt16BE(0xc00c, 0); // pointer to the question's name
  answer.writeUInt16BE(TYPE_A, 2);
  answer.writeUInt16BE(CLASS_IN, 4);
  answer.writeUInt32BE(TTL_SECONDS, 6);
  answer.writeUInt16BE(4, 10);
  ip!.split('.').forEach((o, i) => answer.writeUInt8(Number(o), 12 + i));
  return Buffer.concat([header, question, answer]);
}

/** The records of a list of Services: `<name>.<namespace>.svc.<domain>` → ClusterIP (IPv4, not None). */
export function serviceRecords(
  services: readonly { metadata: { name?: string; namespace?: string }; spec?: { clusterIP?: string } }[],
  domain = 'cluster.local',
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of services) {
    const ip = s.spec?.clusterIP;
    if (!ip || !/^\d{1,3}(\.\d{1,3}){3}$/.test(ip) || !s.metadata.name || !s.metadata.namespace) continue;
    out[`${s.metadata.name}.${s.metadata.namespace}.svc.${domain}`] = ip;
  }
  return out;
}
