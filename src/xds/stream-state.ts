/**
 * The protocol-neutral state of one xDS stream: per resource type, what the client subscribed to, what it
 * holds, which response awaits its ACK, and its last NACK. SotW and Delta share all of it; they differ only by
 * the declared traits below. Pure and synchronous: the gRPC adapters feed it requests and cache changes and
 * write whatever `nextResponse` returns.
 *
 * Ownership: a StreamState belongs to its stream's adapter; nothing else mutates it. Snapshots for /proxies are
 * copies.
 *
 * Cost: handling a request is O(names it carries) (SotW: plus the names it drops); an ACK or NACK that changes
 * no subscription rescans nothing and allocates no name set (a SotW ACK repeating the last names is compared
 * element by element). Per kind the state tracks which NAMES changed since the last response (from cache changes
 * and sent dependencies): a response after a change of k names costs O(k) (a SotW full-state kind, CDS/LDS,
 * still lists every subscribed resource, from a list shared by all wildcard streams of the same cache state). A
 * full scan, O(subscribed + held), happens only on the first request, when the subscription changes, or when a
 * change is marked without names (a new view). Nonces are a random per-stream prefix and a counter, so a client
 * can answer only a response it has read.
 */
import { randomBytes } from 'node:crypto';
import type { CachedResource } from './cache';
import { KIND_ORDER, RESOURCE_TYPES, kindOf, type ResourceKind } from './resource-types';

export interface ProtocolTraits {
  readonly name: 'sotw' | 'delta';
  /** A request lists the whole subscription (SotW) rather than changes to it (Delta). */
  readonly namesAreFullSet: boolean;
  /** Responses can name removed resources (Delta's removed_resources). */
  readonly explicitRemovals: boolean;
  /** A request whose nonce is stale is ignored whole (SotW); otherwise its subscription changes still apply. */
  readonly staleNonceIgnoresSubscription: boolean;
}

export const SOTW: ProtocolTraits = { name: 'sotw', namesAreFullSet: true, explicitRemovals: false, staleNonceIgnoresSubscription: true };
export const DELTA: ProtocolTraits = { name: 'delta', namesAreFullSet: false, explicitRemovals: true, staleNonceIgnoresSubscription: false };

/** A DiscoveryRequest or DeltaDiscoveryRequest reduced to what the state machine needs. */
export interface XdsRequest {
  readonly typeUrl: string;
  /** The nonce of the response this request answers; '' for a first request or a pure subscription change. */
  readonly nonce: string;
  /** Present on a NACK. */
  readonly errorDetail?: { readonly code: number; readonly message: string };
  /** SotW: the full list of names. */
  readonly resourceNames?: readonly string[];
  /**
   * SotW, optional: the encoded bytes of the names (from the first name's tag to the last name's end). A request
   * whose bytes equal the previous one's names the same list, which is then not read at all (an ACK of 1,000
   * names costs one comparison of bytes, not 1,000 strings).
   */
  readonly namesBytes?: Uint8Array;
  /** Delta: changes to the subscription, and on the first request what the client already holds. */
  readonly subscribe?: readonly string[];
  readonly unsubscribe?: readonly string[];
  readonly initialVersions?: ReadonlyArray<readonly [string, string]> | ReadonlyMap<string, string> | Readonly<Record<string, string>>;
}

export type RequestOutcome =
  | {
      readonly kind: ResourceKind;
      readonly ack?: string;
      readonly nack?: { readonly version: string; readonly message: string };
      /** With an ACK or NACK: when the response it answers was built (`now`, ms). */
      readonly sentAt?: number;
    }
  | { readonly ignored: string; readonly kind?: ResourceKind };

export interface Outgoing {
  readonly kind: ResourceKind;
  readonly nonce: string;
  readonly version: string;
  readonly resources: readonly CachedResource[];
  readonly removed: readonly string[];
}

/** What the client holds of one resource: a version, or ABSENT once told the resource does not exist. */
const ABSENT = '';
const WILDCARD = '*';

class TypeState {
  /** True once the type has been requested at all. */
  requested = false;
  /** The next response must compare the whole subscription (first request, subscription change, unnamed change). */
  full = false;
  /**
   * Names that may differ from what the client holds since the last response (only meaningful when not `full`);
   * undefined while there are none (an idle stream holds no empty Set).
   */
  dirtyNames: Set<string> | undefined;
  /** SotW: the names of the last request (or their bytes), to recognise an ACK that repeats them without a set. */
  lastNames: readonly string[] | undefined;
  lastNamesBytes: Buffer | undefined;
  wildcard = false;
  /** The subscribed names (without the wildcard); replaced whole by a SotW request that changes them. */
  names = new Set<string>();
  readonly held = new Map<string, string>();
  pending: { nonce: string; version: string; sentAt: number } | undefined;
  /** The nonce of the latest response of this type, ACKed or not: requests carrying an older one are stale. */
  lastNonce = '';
  sentVersion = '';
  ackedVersion = '';
  lastNack: { version: string; message: string; at: number } | undefined;
  acks = 0;
  nacks = 0;

  subscribed(name: string): boolean {
    return this.wildcard || this.names.has(name);
  }

  markName(name: string): void {
    (this.dirtyNames ??= new Set()).add(name);
  }
}

/**
 * Nonce prefixes: 12 random bytes (base64url) per stream, drawn from the CSPRNG 256 streams' worth at a time
 * (one randomBytes call per stream costs more than the rest of a stream's set-up).
 */
const PREFIX_BYTES = 12;
let prefixPool: Buffer = Buffer.alloc(0);
let prefixAt = 0;
function randomNoncePrefix(): string {
  if (prefixAt + PREFIX_BYTES > prefixPool.length) {
    prefixPool = randomBytes(PREFIX_BYTES * 256);
    prefixAt = 0;
  }
  const prefix = prefixPool.toString('base64url', prefixAt, prefixAt + PREFIX_BYTES);
  prefixAt += PREFIX_BYTES;
  return `${prefix}-`;
}

/** Bit of a kind in StreamState's dirty mask (`dirtyKinds`). */
export const KIND_BIT: Readonly<Record<ResourceKind, number>> = Object.fromEntries(KIND_ORDER.map((k, i) => [k, 1 << i])) as Record<ResourceKind, number>;

/** One kind's sync state, cheap to take for every stream (what /status shows): O(1), plus the names marked since the last response. */
export interface TypeSummary {
  readonly lastSentVersion: string;
  readonly lastAckedVersion: string;
  readonly waitingForAckMs?: number;
  readonly lastNack?: { readonly version: string; readonly message: string; readonly at: string };
  readonly acks: number;
  readonly nacks: number;
  /** Subscribed resources the cache holds in a version this client has not been sent yet (ACK pacing, backpressure). */
  readonly behind: number;
}

/** A kind's whole state for /proxies: the summary, and the subscription itself (O(names)). */
export interface TypeSnapshot extends TypeSummary {
  readonly subscribed: readonly string[];
  readonly wildcard: boolean;
  readonly held: number;
}

export class StreamState {
  private readonly types = new Map<ResourceKind, TypeState>();
  /** Kinds that may have something to send (KIND_BIT): touched by a request, a cache change, or a sent dependency. */
  private dirty = 0;
  private nonceSeq = 0;

  /**
   * The kinds that may have something to send (KIND_BIT). A kind outside it has nothing to send and no change
   * waiting for it, so a caller can pass over it without asking `nextResponse`.
   */
  get dirtyKinds(): number {
    return this.dirty;
  }

  /**
   * @param resources the view's current resources of a kind (read at each call; never mutated here)
   * @param nextVersion the version of a response: process-unique per content, and never `previous` (the
   *   version this stream was last sent of that kind). Streams of one view sending the same resources may share
   *   it (see SharedResponses), so that they can share the encoded bytes too.
   * @param noncePrefix prepended to every nonce: by default 12 random bytes (base64url), drawn once per stream
   */
  constructor(
    readonly traits: ProtocolTraits,
    private readonly resources: (kind: ResourceKind) => ReadonlyMap<string, CachedResource>,
    private readonly nextVersion: (kind: ResourceKind, resources: readonly CachedResource[], removed: readonly string[], previous: string) => string,
    private readonly now: () => number = Date.now,
    private readonly noncePrefix: string = randomNoncePrefix(),
  ) {}

  /** Applies one request. Never throws on bad input: the outcome says what was ignored and why. */
  handleRequest(req: XdsRequest): RequestOutcome {
    const kind = kindOf(req.typeUrl);
    if (!kind) return { ignored: `unknown type_url ${JSON.stringify(req.typeUrl)}` };
    const t = this.state(kind);
    // Stale: answers a response older than the latest one sent. A request carrying the latest nonce after its
    // ACK is current: clients repeat the last nonce they saw on every later request (subscription changes too).
    const stale = req.nonce !== '' && req.nonce !== t.lastNonce;
    if (stale && this.traits.staleNonceIgnoresSubscription) {
      return { kind, ignored: `stale nonce ${JSON.stringify(req.nonce)} (latest ${JSON.stringify(t.lastNonce)})` };
    }
    // Only a request that changes the subscription (or the first one) can make something due: a plain ACK leaves
    // the kind as it was (changes that arrived while the response was pending marked it dirty already).
    if (this.applySubscription(t, req)) {
      t.full = true;
      this.dirty |= KIND_BIT[kind];
    }
    if (stale || req.nonce === '' || req.nonce !== t.pending?.nonce) return { kind };
    const answered = t.pending;
    t.pending = undefined;
    if (req.errorDetail) {
      t.nacks++;
      t.lastNack = { version: answered.version, message: req.errorDetail.message, at: this.now() };
      // The client keeps its previous config; `held` still records what was sent, so the rejected versions are not
      // re-sent in a loop. A new version of a resource is sent as soon as one exists.
      return { kind, nack: { version: answered.version, message: req.errorDetail.message }, sentAt: answered.sentAt };
    }
    t.acks++;
    t.ackedVersion = answered.version;
    return { kind, ack: answered.version, sentAt: answered.sentAt };
  }

  /**
   * The next response for `kind`, or undefined when there is nothing new or a response still awaits its ACK.
   * Calling it records the response as sent (pending ACK) and what the client now holds.
   * @param ready false until the cache holds a complete snapshot; nothing is sent before.
   */
  nextResponse(kind: ResourceKind, ready: boolean): Outgoing | undefined {
    const t = this.types.get(kind);
    if (!ready || !t || !t.requested || t.pending || (this.dirty & KIND_BIT[kind]) === 0) return undefined;
    this.dirty &= ~KIND_BIT[kind];
    const all = this.resources(kind);
    const upserts: CachedResource[] = [];
    const removed: string[] = [];
    const full = t.full;
    t.full = false;
    let candidates: ReadonlySet<string> | undefined;
    if (full) {
      t.dirtyNames = undefined;
      // The candidates are the subscribed names, plus every resource of the view for a wildcard. The loops add
      // disjoint names (the view's resources, subscribed names the view lacks, then held names that are neither):
      // no Set is built, and a wildcard stream's resources are read straight from the view's map.
      // The view's resources are read in name order (sortedValues: sorted once per cache map, shared by every
      // stream), so the response's sort below finds them sorted; so are a subscription's when it names a good part
      // of the view (a sidecar's EDS for every cluster), where one pass over the view beats sorting the names.
      const viaView = t.wildcard || (t.names.size > 8 && t.names.size * Math.log2(t.names.size) > all.size);
      if (viaView) {
        for (const res of sortedValues(all)) {
          if ((t.wildcard || t.names.has(res.name)) && t.held.get(res.name) !== res.version) upserts.push(res);
        }
      }
      for (const name of t.names) {
        const res = all.get(name);
        if (res) {
          if (!viaView && t.held.get(name) !== res.version) upserts.push(res);
        } else if (t.held.get(name) !== ABSENT && (t.held.has(name) || this.traits.explicitRemovals)) {
          removed.push(name);
        }
      }
      for (const name of t.held.keys()) if (!t.names.has(name) && !(t.wildcard && all.has(name))) removed.push(name);
      candidates = t.wildcard ? undefined : t.names;
    } else {
      // Only the names that changed: the same rules as above, restricted to them.
      const dirtyNames = t.dirtyNames ?? EMPTY_NAMES;
      t.dirtyNames = undefined;
      for (const name of dirtyNames) {
        const res = all.get(name);
        if (t.names.has(name) || (t.wildcard && res !== undefined)) {
          if (res) {
            if (t.held.get(name) !== res.version) upserts.push(res);
          } else if (t.held.get(name) !== ABSENT && (t.held.has(name) || this.traits.explicitRemovals)) {
            removed.push(name);
          }
        } else if (t.held.has(name)) {
          removed.push(name);
        }
      }
    }

    const fullState = RESOURCE_TYPES[kind].sotwFullState && !this.traits.explicitRemovals;
    // Removals reach the client as omissions (SotW full state) or removed_resources (Delta). SotW EDS/RDS cannot
    // express them: the client stops asking when the Cluster or Listener that needed them goes.
    const removalsVisible = removed.length > 0 && (fullState || this.traits.explicitRemovals);
    // A first answer, even empty, lets a wildcard client finish initialising; an empty SotW EDS/RDS answer
    // would only be NACKed, so those wait for their first resource.
    const firstAnswer = t.sentVersion === '' && (fullState || (this.traits.explicitRemovals && t.wildcard));
    if (upserts.length === 0 && !removalsVisible && !firstAnswer) {
      for (const name of removed) t.held.delete(name);
      return undefined;
    }

    let resources: readonly CachedResource[];
    if (fullState) {
      resources = t.wildcard && t.names.size === 0 ? sortedValues(all) : sortByName([...(candidates ?? this.candidates(t, all))].map((n) => all.get(n)).filter((r): r is CachedResource => r !== undefined));
    } else {
      resources = sortByName(upserts);
    }
    for (const name of removed) {
      if (t.names.has(name) && this.traits.explicitRemovals) t.held.set(name, ABSENT);
      else t.held.delete(name);
    }
    for (const r of resources) t.held.set(r.name, r.version);
    // Only resources that changed for this client re-send their dependents (a SotW full state repeats the rest).
    this.forceDependents(upserts);

    const removedOut = this.traits.explicitRemovals ? removed.sort() : [];
    const out: Outgoing = {
      kind,
      nonce: this.noncePrefix + (++this.nonceSeq).toString(36),
      version: this.nextVersion(kind, resources, removedOut, t.sentVersion),
      resources,
      removed: removedOut,
    };
    t.pending = { nonce: out.nonce, version: out.version, sentAt: this.now() };
    t.lastNonce = out.nonce;
    t.sentVersion = out.version;
    return out;
  }

  /**
   * Notes that the cache changed for `kind`: `names` changed (were upserted or removed), or, without names,
   * anything may have (the next response compares the whole subscription). Until a kind is marked, or a request
   * for it arrives, nextResponse does not look at it: an ACK costs no rescan.
   */
  markDirty(kind: ResourceKind, names?: readonly string[]): void {
    const t = this.types.get(kind);
    if (t) {
      if (!names || names.length === 0) t.full = true;
      else if (!t.full) for (const n of names) t.markName(n);
    }
    this.dirty |= KIND_BIT[kind];
  }

  /**
   * A cache change of `names` of `kind` (none: anything may have changed): marks the names that concern this
   * stream (subscribed or held) and returns whether any did. O(names).
   */
  noteChange(kind: ResourceKind, names: readonly string[]): boolean {
    const t = this.types.get(kind);
    if (!t || !t.requested) return false;
    if (names.length === 0 || t.wildcard) {
      this.markDirty(kind, names);
      return true;
    }
    let any = false;
    for (const n of names) {
      if (t.names.has(n) || t.held.has(n)) {
        if (!t.full) t.markName(n);
        any = true;
      }
    }
    if (any) this.dirty |= KIND_BIT[kind];
    return any;
  }

  /** Whether a change to `names` of `kind` concerns this stream at all (cheap pre-check for fan-out). */
  interestedIn(kind: ResourceKind, names: readonly string[]): boolean {
    const t = this.types.get(kind);
    if (!t || !t.requested) return false;
    return t.wildcard || names.some((n) => t.names.has(n) || t.held.has(n));
  }

  /** Whether a response of `kind` awaits its ACK (then nextResponse sends nothing of it). */
  awaitingAck(kind: ResourceKind): boolean {
    return this.types.get(kind)?.pending !== undefined;
  }

  /** The kinds whose response has been waiting for an ACK longer than `ms`. */
  overdue(ms: number): ResourceKind[] {
    const limit = this.now() - ms;
    return KIND_ORDER.filter((k) => {
      const p = this.types.get(k)?.pending;
      return p !== undefined && p.sentAt < limit;
    });
  }

  /** Every kind's summary (what /status needs); `snapshot` adds the subscriptions. */
  summary(): Partial<Record<ResourceKind, TypeSummary>> {
    const out: Partial<Record<ResourceKind, TypeSummary>> = {};
    for (const kind of KIND_ORDER) {
      const t = this.types.get(kind);
      if (t) out[kind] = this.summaryOf(kind, t);
    }
    return out;
  }

  snapshot(): Partial<Record<ResourceKind, TypeSnapshot>> {
    const out: Partial<Record<ResourceKind, TypeSnapshot>> = {};
    for (const kind of KIND_ORDER) {
      const t = this.types.get(kind);
      if (!t) continue;
      out[kind] = {
        subscribed: [...(t.wildcard ? [WILDCARD] : []), ...[...t.names].sort()],
        wildcard: t.wildcard,
        held: [...t.held.values()].filter((v) => v !== ABSENT).length,
        ...this.summaryOf(kind, t),
      };
    }
    return out;
  }

  private summaryOf(kind: ResourceKind, t: TypeState): TypeSummary {
    return {
      lastSentVersion: t.sentVersion,
      lastAckedVersion: t.ackedVersion,
      ...(t.pending ? { waitingForAckMs: this.now() - t.pending.sentAt } : {}),
      ...(t.lastNack ? { lastNack: { ...t.lastNack, at: new Date(t.lastNack.at).toISOString() } } : {}),
      acks: t.acks,
      nacks: t.nacks,
      behind: this.behind(kind, t),
    };
  }

  /** What the client was last sent of `kind`: resource name → version (a copy). */
  heldVersions(kind: ResourceKind): Map<string, string> {
    const out = new Map<string, string>();
    for (const [name, version] of this.types.get(kind)?.held ?? []) if (version !== ABSENT) out.set(name, version);
    return out;
  }

  /**
   * Subscribed resources whose cached version the client was not sent. Outside a full comparison only the names
   * marked since the last response can differ (a response brings every other subscribed name up to date, and
   * every change after it marks its names), so this is O(marked names), not O(subscription): /status asks it of
   * every stream every second the dashboard is open.
   */
  private behind(kind: ResourceKind, t: TypeState): number {
    if (!t.requested) return 0;
    const all = this.resources(kind);
    const names: Iterable<string> = t.full ? (t.wildcard ? all.keys() : t.names) : (t.dirtyNames ?? EMPTY_NAMES);
    let n = 0;
    for (const name of names) {
      const res = all.get(name);
      if (res && (t.wildcard || t.names.has(name)) && t.held.get(name) !== res.version) n++;
    }
    return n;
  }

  /** The names a full comparison looks at: the subscription, plus every resource of the view for a wildcard. */
  private candidates(t: TypeState, all: ReadonlyMap<string, CachedResource>): ReadonlySet<string> {
    if (!t.wildcard) return t.names;
    const union = new Set(all.keys());
    for (const n of t.names) union.add(n);
    return union;
  }

  private state(kind: ResourceKind): TypeState {
    let t = this.types.get(kind);
    if (!t) this.types.set(kind, (t = new TypeState()));
    return t;
  }

  /**
   * Applies a request's subscription; returns whether anything changed (the first request always counts).
   * O(names carried), plus O(held) only when the wildcard is dropped.
   */
  private applySubscription(t: TypeState, req: XdsRequest): boolean {
    const firstRequest = !t.requested;
    t.requested = true;
    const wasWildcard = t.wildcard;
    /** Names the client stopped subscribing to by this request. */
    const dropped: string[] = [];
    let added = false;
    if (this.traits.namesAreFullSet) {
      // An ACK repeats the names of the request before it: nothing changes (same names, so the same wildcard rule).
      const bytes = req.namesBytes;
      if (!firstRequest && bytes !== undefined && t.lastNamesBytes !== undefined && sameBytes(t.lastNamesBytes, bytes)) return false;
      const names = req.resourceNames ?? [];
      if (!firstRequest && bytes === undefined && t.lastNames !== undefined && sameStrings(names, t.lastNames)) return false;
      // Kept for the next comparison: a copy of the bytes (not the whole request), or the list itself. The copy is
      // its own allocation: a small Buffer.from would pin an 8 KB slab of Node's shared pool per stream.
      t.lastNamesBytes = bytes !== undefined ? copyOwn(bytes) : undefined;
      t.lastNames = bytes !== undefined ? undefined : names;
      const next = new Set<string>();
      let wildcard = firstRequest ? names.length === 0 : names.length > 0 ? false : t.wildcard;
      for (const n of names) {
        // Legacy wildcard: a first request naming nothing subscribes to everything, and stays so while it names
        // nothing. Once names were given, an empty list means "nothing".
        if (n === WILDCARD) wildcard = true;
        else next.add(n);
      }
      for (const n of t.names) if (!next.has(n)) dropped.push(n);
      if (next.size !== t.names.size - dropped.length) added = true;
      t.names = next;
      t.wildcard = wildcard;
    } else {
      const sub = req.subscribe ?? [];
      if (firstRequest && sub.length === 0) t.wildcard = true;
      for (const n of sub) {
        if (n === WILDCARD) t.wildcard = true;
        else if (!t.names.has(n)) {
          t.names.add(n);
          added = true;
        }
      }
      for (const n of req.unsubscribe ?? []) {
        if (n === WILDCARD) t.wildcard = false;
        else if (t.names.delete(n)) dropped.push(n);
      }
      const iv = req.initialVersions;
      if (firstRequest && iv) for (const [n, v] of Array.isArray(iv) || iv instanceof Map ? iv : Object.entries(iv)) t.held.set(n, v);
    }
    // A name the client dropped is forgotten, so subscribing again sends it afresh.
    for (const n of dropped) if (!t.subscribed(n)) t.held.delete(n);
    if (wasWildcard && !t.wildcard) for (const n of t.held.keys()) if (!t.names.has(n)) t.held.delete(n);
    return firstRequest || added || dropped.length > 0 || wasWildcard !== t.wildcard;
  }

  /** After a resource is sent, its dependents (a Cluster's endpoints) must be sent again even if unchanged. */
  private forceDependents(sent: readonly CachedResource[]): void {
    for (const r of sent) {
      for (const d of r.dependents) {
        const dt = this.types.get(d.kind);
        if (dt) {
          dt.held.delete(d.name);
          if (!dt.full) dt.markName(d.name);
        }
        this.dirty |= KIND_BIT[d.kind];
      }
    }
  }
}

const EMPTY_NAMES: ReadonlySet<string> = new Set();

function byName(a: CachedResource, b: CachedResource): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

function sortByName(list: CachedResource[]): CachedResource[] {
  return list.length > 1 ? list.sort(byName) : list;
}

/**
 * Every resource of a cache map, sorted by name, computed once per map: the cache replaces a kind's map on every
 * change (copy on write), so all wildcard streams of a view in the same state share one list.
 */
const sortedCache = new WeakMap<ReadonlyMap<string, CachedResource>, readonly CachedResource[]>();
function sortedValues(all: ReadonlyMap<string, CachedResource>): readonly CachedResource[] {
  let list = sortedCache.get(all);
  if (!list) sortedCache.set(all, (list = sortByName([...all.values()])));
  return list;
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Whether two byte ranges are equal: compared here when short (a sidecar's ACK repeats one or a few names, and a
 * call into Buffer.equals costs more than the loop), by Buffer.equals otherwise.
 */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  const n = a.length;
  if (n !== b.length) return false;
  if (n > 64) return Buffer.from(a.buffer, a.byteOffset, n).equals(b);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

function copyOwn(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafeSlow(bytes.length);
  out.set(bytes);
  return out;
}
