/**
 * Convergence in production: for every published change, the time from when its source observed it (watch event
 * arrival, registry poll, file read: UpdateMeta.observedAt) to each proxy's ACK of the response that carried it,
 * and to the last proxy's ACK.
 *
 * How a change is followed (all synchronous, O(1) per cache change per stream and O(changes carried) per ACK,
 * never a scan of all changes):
 *   1. the publisher calls `begin` before it writes the cache and `end` after; cache changes emitted in between
 *      belong to that change (`current`);
 *   2. the xDS server tells each interested stream's tracker `changed(kind)`: the change joins that stream's
 *      waiting list for the kind;
 *   3. when the stream sends a response of that kind, `sent(kind, version)` moves the waiting list onto it (a
 *      response built now carries every change applied so far); if nothing needed sending, `unneeded(kind)`
 *      drops the list;
 *   4. the ACK of that version observes one histogram sample per change carried (per proxy and type); a NACK
 *      counts the change as NACKed by that proxy; a closing stream lets go of what it still held.
 * A change is complete when every stream that had it waiting settled it; its last-ACK time is then observed.
 *
 * Ownership: the Convergence object owns the change records and the recent list; each StreamConvergence belongs
 * to one xDS stream (created and closed by it). Bounds: at most MAX_OPEN changes in flight (older ones are
 * abandoned and counted), MAX_WAITING changes per stream and kind, RECENT records kept for the API.
 */
import { CONVERGENCE_BUCKETS, type HistogramSummary, type Metrics } from '../admin/metrics';
import type { Telemetry } from '../telemetry';
import { endpointKey, type Mesh, type Service } from '../model/types';

export type ChangeKind = 'drain' | 'add' | 'remove' | 'health' | 'structural';

/** What one published change was: its kind, the services it touched, and when its source observed it. */
export interface ChangeInfo {
  readonly kind: ChangeKind;
  readonly services: readonly string[];
  /** Epoch ms: when the source observed the earliest input this change carries. */
  readonly observedAt: number;
}

export interface ConvergenceReport {
  readonly changes: ReadonlyArray<{
    readonly id: number;
    readonly kind: ChangeKind;
    readonly services: readonly string[];
    readonly observedAt: string;
    readonly publishedAt: string;
    /** From observation to publish, ms. */
    readonly publishMs: number;
    readonly proxies: number;
    readonly acked: number;
    readonly nacked: number;
    readonly complete: boolean;
    readonly lastAckAt?: string;
    /** From observation to the last proxy's ACK, ms. */
    readonly lastAckMs?: number;
  }>;
  /** herald_convergence_seconds summed per change kind ('all': every kind). */
  readonly perProxy: Readonly<Record<string, HistogramSummary>>;
  /** herald_convergence_last_ack_seconds summed per change kind. */
  readonly lastAck: Readonly<Record<string, HistogramSummary>>;
}

/** A change as the admin API shows it. */
export interface ChangeRecord {
  readonly id: number;
  readonly kind: ChangeKind;
  readonly services: readonly string[];
  readonly observedAt: number;
  readonly publishedAt: number;
  /** Proxies (streams) that were sent it. */
  proxies: number;
  /** Proxies that ACKed every type it touched for them. */
  acked: number;
  nacked: number;
  /** Epoch ms of the last proxy's ACK so far. */
  lastAckAt: number | undefined;
  /** Every stream that had it waiting settled it (ACK, NACK, nothing to send, or gone). */
  complete: boolean;
  /** (stream, type) pairs not settled yet. */
  outstanding: number;
}

const RECENT = 100;
const MAX_OPEN = 10_000;
const MAX_WAITING = 1_000;

/** This module's metrics, declared in `m` (the same handles for every caller on one Metrics). */
export function convergenceMetrics(m: Metrics) {
  return {
    proxyAck: m.histogram(
      'herald_convergence_seconds',
      'Per proxy and type: from the source observing a change to that proxy ACKing the response that carried it, by change kind and type',
      ['kind', 'type'],
      CONVERGENCE_BUCKETS,
    ),
    lastAck: m.histogram('herald_convergence_last_ack_seconds', 'Per change: from the source observing it to the last proxy ACK, by change kind', ['kind'], CONVERGENCE_BUCKETS),
    changes: m.counter('herald_changes_total', 'Changes published, by kind (drain, add, remove, health, structural)', ['kind']),
    changeNacks: m.counter('herald_convergence_nacks_total', 'Responses carrying a change that a proxy NACKed, by change kind and type', ['kind', 'type']),
    abandoned: m.counter('herald_convergence_abandoned_total', 'Changes no longer followed before every proxy settled them (bounds: too many in flight, or a stream far behind)'),
  };
}

export class Convergence {
  private seq = 0;
  private current: ChangeRecord | undefined;
  private readonly open = new Map<number, ChangeRecord>();
  private readonly recentList: ChangeRecord[] = [];
  /** Histogram children per kind × type, bound once (the ACK path is hot). */
  private readonly children = new Map<string, { observe(s: number): void }>();

  /** Its metrics (its StreamConvergences write theirs here too). */
  readonly m: ReturnType<typeof convergenceMetrics>;

  constructor(
    telemetry: Telemetry,
    private readonly now: () => number = Date.now,
  ) {
    this.m = convergenceMetrics(telemetry.metrics);
  }

  /** The change whose cache writes are under way; `end` closes it. Nested calls are not allowed. */
  begin(info: ChangeInfo): ChangeRecord {
    const rec: ChangeRecord = {
      id: ++this.seq,
      kind: info.kind,
      services: info.services,
      observedAt: info.observedAt,
      publishedAt: this.now(),
      proxies: 0,
      acked: 0,
      nacked: 0,
      lastAckAt: undefined,
      complete: false,
      outstanding: 0,
    };
    this.m.changes.inc({ kind: info.kind });
    this.current = rec;
    this.open.set(rec.id, rec);
    if (this.open.size > MAX_OPEN) {
      const [oldest] = this.open.values();
      this.open.delete(oldest!.id);
      this.m.abandoned.inc();
    }
    this.recentList.push(rec);
    if (this.recentList.length > RECENT) this.recentList.shift();
    return rec;
  }

  end(): void {
    const rec = this.current;
    this.current = undefined;
    if (rec && rec.outstanding === 0) this.finish(rec);
  }

  /** A tracker for one xDS stream. */
  stream(): StreamConvergence {
    return new StreamConvergence(this);
  }

  /** The last changes, newest first (copies). */
  recent(limit = RECENT): ChangeRecord[] {
    return this.recentList.slice(-limit).reverse().map((r) => ({ ...r }));
  }

  /**
   * For /convergence: the recent changes (newest first) with their times relative to the observation, and the
   * two histograms summed per change kind (cumulative buckets, seconds).
   */
  report(limit = RECENT): ConvergenceReport {
    const kinds: ChangeKind[] = ['drain', 'add', 'remove', 'health', 'structural'];
    const iso = (ms: number) => new Date(ms).toISOString();
    return {
      changes: this.recent(limit).map((r) => ({
        id: r.id,
        kind: r.kind,
        services: r.services,
        observedAt: iso(r.observedAt),
        publishedAt: iso(r.publishedAt),
        publishMs: r.publishedAt - r.observedAt,
        proxies: r.proxies,
        acked: r.acked,
        nacked: r.nacked,
        complete: r.complete,
        ...(r.lastAckAt !== undefined ? { lastAckAt: iso(r.lastAckAt), lastAckMs: r.lastAckAt - r.observedAt } : {}),
      })),
      perProxy: { all: this.m.proxyAck.summary(), ...Object.fromEntries(kinds.map((k) => [k, this.m.proxyAck.summary({ kind: k })])) },
      lastAck: { all: this.m.lastAck.summary(), ...Object.fromEntries(kinds.map((k) => [k, this.m.lastAck.summary({ kind: k })])) },
    };
  }

  /** @internal */
  get active(): ChangeRecord | undefined {
    return this.current;
  }

  /** @internal one (stream, type) pair settled */
  settle(rec: ChangeRecord): void {
    rec.outstanding--;
    if (rec.outstanding <= 0 && rec !== this.current) this.finish(rec);
  }

  /** @internal */
  observeAck(rec: ChangeRecord, type: string, at: number): void {
    const key = `${rec.kind}/${type}`;
    let child = this.children.get(key);
    if (!child) this.children.set(key, (child = this.m.proxyAck.labels({ kind: rec.kind, type })));
    child.observe(Math.max(0, at - rec.observedAt) / 1000);
    if (rec.lastAckAt === undefined || at > rec.lastAckAt) rec.lastAckAt = at;
  }

  private finish(rec: ChangeRecord): void {
    if (rec.complete) return;
    rec.complete = true;
    this.open.delete(rec.id);
    if (rec.acked > 0 && rec.lastAckAt !== undefined) this.m.lastAck.observe(Math.max(0, rec.lastAckAt - rec.observedAt) / 1000, { kind: rec.kind });
  }
}

/** A type's slot in a StreamConvergence's per-type arrays (the xDS types are few: given out on first sight). */
const TYPE_SLOTS = new Map<string, number>();
function slotOf(type: string): number {
  let slot = TYPE_SLOTS.get(type);
  if (slot === undefined) TYPE_SLOTS.set(type, (slot = TYPE_SLOTS.size));
  return slot;
}

/** One stream's part: what changes wait for it, what it was sent, per type. Owned by the stream. */
export class StreamConvergence {
  // Per type slot, made on first use: an idle stream (most of them) holds none. Arrays, not maps: every response
  // of a fan-out passes here once per stream.
  private waiting: Array<ChangeRecord[] | undefined> | undefined;
  /** The response of each type awaiting its answer: its version, and the changes it carries. */
  private inFlightVersion: Array<string | undefined> | undefined;
  private inFlightChanges: Array<ChangeRecord[] | undefined> | undefined;
  /** Types outstanding per change for this stream (to count proxies, and proxies that ACKed everything). */
  private perChange: Map<ChangeRecord, number> | undefined;

  constructor(private readonly c: Convergence) {}

  /** The cache changed `type` in a way that concerns this stream (called while the publisher applies a change). */
  changed(type: string): void {
    const rec = this.c.active;
    if (!rec) return;
    const waiting = (this.waiting ??= []);
    const slot = slotOf(type);
    let list = waiting[slot];
    if (!list) waiting[slot] = list = [];
    if (list[list.length - 1] === rec) return;
    list.push(rec);
    rec.outstanding++;
    if (list.length > MAX_WAITING) {
      this.c.settle(list.shift()!);
      this.c.m.abandoned.inc();
    }
  }

  /** A response of `type` went out as `version`: it carries every change waiting for that type. */
  sent(type: string, version: string): void {
    const slot = slotOf(type);
    const list = this.waiting?.[slot];
    if (!list) return;
    this.waiting![slot] = undefined;
    const versions = (this.inFlightVersion ??= []);
    const carried = (this.inFlightChanges ??= []);
    const perChange = (this.perChange ??= new Map());
    const prev = carried[slot];
    if (prev) for (const rec of prev) this.release(rec);
    for (const rec of list) {
      const n = perChange.get(rec);
      if (n === undefined) rec.proxies++;
      perChange.set(rec, (n ?? 0) + 1);
    }
    versions[slot] = version;
    carried[slot] = list;
  }

  /** Nothing of `type` needed sending after all: the waiting changes did not concern this client. */
  unneeded(type: string): void {
    const slot = slotOf(type);
    const list = this.waiting?.[slot];
    if (!list) return;
    this.waiting![slot] = undefined;
    for (const rec of list) this.c.settle(rec);
  }

  /** The client answered the response `version` of `type` at `at` (epoch ms): ACK, or NACK with `nack`. */
  answered(type: string, version: string, at: number, nack?: string): void {
    const slot = slotOf(type);
    const changes = this.inFlightChanges?.[slot];
    if (!changes || this.inFlightVersion![slot] !== version) return;
    this.inFlightChanges![slot] = undefined;
    this.inFlightVersion![slot] = undefined;
    const perChange = (this.perChange ??= new Map());
    for (const rec of changes) {
      if (nack === undefined) this.c.observeAck(rec, type, at);
      else this.c.m.changeNacks.inc({ kind: rec.kind, type });
      const left = (perChange.get(rec) ?? 1) - 1;
      if (left <= 0) {
        perChange.delete(rec);
        if (nack === undefined) rec.acked++;
      } else perChange.set(rec, left);
      if (nack !== undefined && left <= 0) rec.nacked++;
      this.c.settle(rec);
    }
  }

  /** The stream ended: everything it held is settled unanswered. */
  close(): void {
    for (const list of this.waiting ?? []) for (const rec of list ?? []) this.c.settle(rec);
    for (const changes of this.inFlightChanges ?? []) for (const rec of changes ?? []) this.release(rec);
    this.waiting = undefined;
    this.inFlightVersion = undefined;
    this.inFlightChanges = undefined;
    this.perChange = undefined;
  }

  private release(rec: ChangeRecord): void {
    this.perChange?.delete(rec);
    this.c.settle(rec);
  }
}

/**
 * What a publish changes, for the convergence labels and the event log: `structural` when services or policies
 * changed (the full path); otherwise the strongest endpoint change, in the order drain > remove > add > health.
 */
export function classify(prev: Mesh, next: Mesh, structural: boolean): { kind: ChangeKind; services: string[]; events: MeshEvent[] } {
  const events: MeshEvent[] = [];
  const services: string[] = [];
  let rank = 0;
  const order: ChangeKind[] = ['health', 'add', 'remove', 'drain'];
  const bump = (k: ChangeKind) => (rank = Math.max(rank, order.indexOf(k)));
  for (const [name, s] of next.services) {
    const old = prev.services.get(name);
    if (old === s) continue;
    if (!old) {
      services.push(name);
      events.push({ kind: 'service-added', service: name, endpoints: s.endpoints.slice(0, 10).map(endpointKey), count: s.endpoints.length });
      continue;
    }
    if (old.endpoints === s.endpoints) {
      services.push(name);
      events.push({ kind: 'policy', service: name, endpoints: [], count: 0 });
      continue;
    }
    const diff = diffEndpoints(old, s);
    if (diff.length === 0) {
      if (JSON.stringify(old.endpoints) === JSON.stringify(s.endpoints)) continue;
      // Same addresses and health: an attribute changed (weight, zone, labels); counted as a health change.
      diff.push(['health', `${s.endpoints.length} endpoints (attributes)`]);
    }
    services.push(name);
    for (const [kind, keys] of groupBy(diff)) {
      bump(kind);
      events.push({ kind, service: name, endpoints: keys.slice(0, 10), count: keys.length });
    }
  }
  for (const [name, old] of prev.services) {
    if (next.services.has(name)) continue;
    services.push(name);
    events.push({ kind: 'service-removed', service: name, endpoints: old.endpoints.slice(0, 10).map(endpointKey), count: old.endpoints.length });
  }
  return { kind: structural ? 'structural' : order[rank]!, services: services.sort(), events };
}

/** One event of the event log: what happened to a service. */
export interface MeshEvent {
  readonly kind: ChangeKind | 'service-added' | 'service-removed' | 'policy' | 'hold' | 'release';
  readonly service: string;
  /** Up to 10 endpoint keys (address:port) it concerns. */
  readonly endpoints: readonly string[];
  /** How many endpoints in all. */
  readonly count: number;
  readonly detail?: string;
}

function diffEndpoints(before: Service, after: Service): Array<[ChangeKind, string]> {
  const out: Array<[ChangeKind, string]> = [];
  const was = new Map(before.endpoints.map((e) => [endpointKey(e), e.health]));
  const now = new Set<string>();
  for (const e of after.endpoints) {
    const key = endpointKey(e);
    now.add(key);
    const h = was.get(key);
    if (h === undefined) out.push(['add', key]);
    else if (h !== e.health) out.push([e.health === 'DRAINING' ? 'drain' : 'health', key]);
  }
  for (const key of was.keys()) if (!now.has(key)) out.push(['remove', key]);
  return out;
}

function groupBy(pairs: Array<[ChangeKind, string]>): Map<ChangeKind, string[]> {
  const m = new Map<ChangeKind, string[]>();
  for (const [k, v] of pairs) {
    let l = m.get(k);
    if (!l) m.set(k, (l = []));
    l.push(v);
  }
  return m;
}

/** A bounded log of recent events (newest last), with times; for /events and the dashboard. */
export class EventLog {
  private readonly list: Array<MeshEvent & { readonly at: number; readonly observedAt?: number; readonly source?: string }> = [];

  constructor(
    private readonly max = 200,
    private readonly now: () => number = Date.now,
  ) {}

  record(e: MeshEvent, extra: { observedAt?: number; source?: string } = {}): void {
    this.list.push({ ...e, ...extra, at: this.now() });
    if (this.list.length > this.max) this.list.shift();
  }

  /** Newest first. */
  recent(limit = this.max): ReadonlyArray<MeshEvent & { at: number; observedAt?: number; source?: string }> {
    return this.list.slice(-limit).reverse();
  }
}

