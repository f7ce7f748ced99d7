/**
 * The registry's hosts in the cluster's own store: one `RegistryHost` custom resource (herald.io/v1alpha1,
 * deploy/registry-crd.yaml) per (service, ip) in one namespace, so every Herald replica serves the same VM hosts,
 * any replica can be lost, and no extra database is needed.
 *
 * Reads come from a watch (Herald's informer), never a poll: `RegistryHostCache` (kube-backend-hosts.ts) holds
 * every RegistryHost of the namespace in compact form, for the server's GETs (KubeRegistryBackend) and for the registry source reading the
 * resources directly (kube-backend-source.ts).
 *
 * Writes (client-node's CustomObjectsApi) are optimistic: a replace carries the resourceVersion it was computed
 * from, and a conflict re-reads and retries (bounded). Writes of one host are serialised and coalesced: while one
 * is in flight, later heartbeats of that host merge into the next write (a burst of heartbeats costs the apiserver
 * one write per round trip per host, not one per heartbeat); at most `maxConcurrentWrites` are in flight.
 *
 * Heartbeats are cheap: a heartbeat of a stored host that changes nothing but the check-in is answered at once
 * and written when the stored check-in is `refreshMs` old (default TTL/20, 1..30 s), coalesced with every
 * heartbeat after it, as a Lease is renewed well inside its duration: the apiserver sees at most one write per
 * host per `refreshMs` however often VMs beat. The stored check-in lags the last heartbeat by about `refreshMs`
 * plus a write (the TTL is in effect that much shorter); this replica's GETs show its own latest heartbeat. A
 * registration, or any change of port, revision, repo or tags, is written before it is answered.
 *
 * TTL expiry is done by every replica without fighting: a sweeper deletes a host whose last check-in is older
 * than the TTL with a resourceVersion precondition, so a host that was heartbeated meanwhile (through any
 * replica) is never deleted (409), and a host another replica already removed is a no-op (404).
 *
 * Ownership: the cache owns its informer and store; the backend owns its write queues and sweeper timer.
 * Clocks: a host's last check-in is the writing replica's clock; replicas are assumed NTP-synchronised.
 */
import * as https from 'node:https';
import { CustomObjectsApi, KubeConfig, ServerConfiguration, createConfiguration } from '@kubernetes/client-node';
import type { Metrics } from '../../admin/metrics';
import type { Logger } from '../../log/log';
import type { Telemetry } from '../../telemetry';
import type { KubeApi } from '../kubernetes/informer';
import type { RegistryBackend, StoredHost } from './store';
import { GROUP, KIND, PLURAL, RegistryHostCache, VERSION, checkInMs, checkInText, resourceName, type CachedHost, type RegistryHostSpec } from './kube-backend-hosts';

export * from './kube-backend-hosts';

/** This module's metrics, declared in `m` (the same handles for every caller on one Metrics). */
export function kubeRegistryBackendMetrics(m: Metrics) {
  return {
    writes: m.counter('herald_registry_kube_writes_total', 'RegistryHost writes by operation and outcome', ['op', 'outcome']),
    sweeps: m.counter('herald_registry_kube_expired_total', 'RegistryHosts deleted by TTL expiry (by this replica), by outcome', ['outcome']),
  };
}

export interface KubeRegistryBackendOptions {
  /** kubeconfig file; '' means in-cluster, then $KUBECONFIG, then ~/.kube/config. */
  readonly kubeconfig: string;
  readonly namespace: string;
  readonly ttlSeconds: number;
  /** The read side (shared with a source in the same process, or its own). */
  readonly cache: RegistryHostCache;
  /** close() stops the cache too (default true). */
  readonly ownsCache?: boolean;
  /** How often the sweeper looks for expired hosts (default TTL/10, 1..30 s, jittered). */
  readonly sweepEveryMs?: number;
  readonly maxConcurrentWrites?: number;
  /** A heartbeat-only write is deferred while the stored check-in is younger than this (default TTL/20, 1..30 s). */
  readonly refreshMs?: number;
  /** The instance's metrics and logger. */
  readonly telemetry: Telemetry;
}

type Mutation = (cur: RegistryHostSpec | undefined) => RegistryHostSpec | undefined;

interface Pending {
  mutate: Mutation;
  waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }>;
}

const statusOf = (err: unknown): number | undefined => {
  const e = err as { code?: unknown; status?: unknown };
  return typeof e?.code === 'number' ? e.code : typeof e?.status === 'number' ? e.status : undefined;
};

/** True when writing `h` over `cur` would change nothing but the check-in (tags merge, so only given tags count). */
function heartbeatOnly(cur: RegistryHostSpec, h: StoredHost): boolean {
  if (cur.port !== h.port || cur.revision !== h.revision || cur.serviceRepoName !== h.serviceRepoName) return false;
  return Object.entries(h.tags).every(([k, v]) => JSON.stringify(cur.tags?.[k]) === JSON.stringify(v));
}

const specOf = (h: StoredHost): RegistryHostSpec => ({
  service: h.service,
  ip: h.ip,
  port: h.port,
  revision: h.revision,
  serviceRepoName: h.serviceRepoName,
  lastCheckIn: checkInText(h.lastCheckIn),
  tags: { ...h.tags },
});

/**
 * client-node 1.x builds a new https.Agent for every request (a TLS handshake per write: most of a heartbeat
 * write's CPU); this client authenticates each request as the KubeConfig does, then sends it through one
 * keep-alive agent with the same TLS settings.
 */
async function writeClient(kc: KubeConfig, maxSockets: number): Promise<{ api: CustomObjectsApi; agent: https.Agent }> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig: no current cluster');
  const tls: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(tls);
  const agent = new https.Agent({ keepAlive: true, maxSockets, ca: tls.ca, cert: tls.cert, key: tls.key, ...(cluster.skipTLSVerify ? { rejectUnauthorized: false } : {}), ...(cluster.tlsServerName ? { servername: cluster.tlsServerName } : {}) });
  const auth = {
    getName: () => 'herald',
    applySecurityAuthentication: async (ctx: { setAgent(a: https.Agent): void }) => {
      await kc.applySecurityAuthentication(ctx as never);
      ctx.setAgent(agent);
    },
  };
  return { api: new CustomObjectsApi(createConfiguration({ baseServer: new ServerConfiguration(cluster.server, {}), authMethods: { default: auth as never } })), agent };
}

export class KubeRegistryBackend implements RegistryBackend {
  private api!: CustomObjectsApi;
  private agent: https.Agent | undefined;
  private readonly kc: KubeConfig;
  private readonly pending = new Map<string, Pending>();
  private readonly inflight = new Set<string>();
  /** The last version this replica wrote or read of a host, newer than the cache right after a write. */
  private readonly lastSeen = new Map<string, { resourceVersion: string; spec: RegistryHostSpec }>();
  private readonly sweeping = new Set<string>();
  private slots: number;
  private readonly slotWaiters: Array<() => void> = [];
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Deferred heartbeats: the latest one per host, and the timer that writes it. */
  private readonly deferred = new Map<string, { host: StoredHost; timer: NodeJS.Timeout }>();
  private readonly refreshMs: number;
  private readonly m: ReturnType<typeof kubeRegistryBackendMetrics>;
  private readonly log: Logger;

  constructor(private readonly o: KubeRegistryBackendOptions) {
    this.m = kubeRegistryBackendMetrics(o.telemetry.metrics);
    this.log = o.telemetry.log;
    this.kc = new KubeConfig();
    if (o.kubeconfig) this.kc.loadFromFile(o.kubeconfig);
    else this.kc.loadFromDefault();
    this.slots = o.maxConcurrentWrites ?? 32;
    this.refreshMs = o.refreshMs ?? Math.min(30_000, Math.max(1000, (o.ttlSeconds * 1000) / 20));
  }

  /** The read side this backend serves from (a source in the same process may share it). */
  get cache(): RegistryHostCache {
    return this.o.cache;
  }

  /** Starts the cache (when owned; resolves once it has listed) and the sweeper. */
  async start(): Promise<void> {
    ({ api: this.api, agent: this.agent } = await writeClient(this.kc, this.slots));
    if (this.o.ownsCache !== false) await this.o.cache.start();
    const every = this.o.sweepEveryMs ?? Math.min(30_000, Math.max(1000, (this.o.ttlSeconds * 1000) / 10));
    const tick = () => {
      if (this.closed) return;
      this.sweep(Date.now());
      this.timer = setTimeout(tick, every / 2 + Math.random() * every);
      this.timer.unref();
    };
    this.timer = setTimeout(tick, Math.random() * every);
    this.timer.unref();
  }

  private live(h: CachedHost, now: number, ttlMs: number): boolean {
    return now - h.lastCheckIn <= ttlMs;
  }

  /** Deletes every expired host this replica sees, each only at the version judged expired. */
  sweep(now: number, ttlMs = this.o.ttlSeconds * 1000): void {
    for (const h of this.o.cache.all()) if (!this.live(h, now, ttlMs)) this.expire(h);
    // Versions this replica wrote of hosts that are gone (expired or deleted through another replica).
    for (const [name, seen] of this.lastSeen) if (!this.o.cache.get(name) && now - checkInMs(seen.spec.lastCheckIn) > ttlMs) this.lastSeen.delete(name);
  }

  private expire(h: CachedHost): void {
    // A host this replica holds an unwritten heartbeat or write for is alive: it is written, not deleted.
    if (this.sweeping.has(h.name) || this.closed || this.deferred.has(h.name) || this.pending.has(h.name) || this.inflight.has(h.name)) return;
    this.sweeping.add(h.name);
    void this.withSlot(() =>
      this.api.deleteNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: this.o.namespace,
        plural: PLURAL,
        name: h.name,
        body: { preconditions: { resourceVersion: h.resourceVersion } },
      }),
    )
      .then(
        () => {
          this.m.sweeps.inc({ outcome: 'deleted' });
          this.lastSeen.delete(h.name);
          this.log.write('info', 'registry host expired', { service: h.service, ip: h.ip, lastCheckIn: checkInText(h.lastCheckIn) });
        },
        (err) => {
          const s = statusOf(err);
          // 409: heartbeated since (the precondition kept it); 404: another replica removed it first.
          this.m.sweeps.inc({ outcome: s === 409 ? 'kept' : s === 404 ? 'gone' : 'error' });
          if (s !== 409 && s !== 404) this.log.limited('registry-sweep-error', 'warn', 'RegistryHost expiry failed; retried at the next sweep', { name: h.name, error: (err as Error).message });
        },
      )
      .finally(() => this.sweeping.delete(h.name));
  }

  private hosts(pred: (h: CachedHost) => boolean, now: number, ttlMs: number): StoredHost[] {
    const out: CachedHost[] = [];
    for (const cached of this.o.cache.all()) {
      if (!pred(cached)) continue;
      const beat = this.deferred.get(cached.name)?.host.lastCheckIn;
      const h = beat !== undefined && beat > cached.lastCheckIn ? { ...cached, lastCheckIn: beat } : cached;
      if (this.live(h, now, ttlMs)) out.push(h);
      else this.expire(h); // as the original sweeps on GET
    }
    return out
      .sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0))
      .map(({ name: _n, resourceVersion: _r, ...h }) => h);
  }

  async list(service: string, now: number, ttlMs: number): Promise<StoredHost[]> {
    return this.hosts((h) => h.service === service, now, ttlMs);
  }

  async listByRepo(repo: string, now: number, ttlMs: number): Promise<StoredHost[]> {
    return this.hosts((h) => h.serviceRepoName === repo, now, ttlMs);
  }

  async count(service: string): Promise<number> {
    let n = 0;
    for (const h of this.o.cache.all()) if (h.service === service) n++;
    return n;
  }

  upsert(h: StoredHost): Promise<void> {
    const name = resourceName(h.service, h.ip);
    const cached = this.o.cache.get(name);
    const cur = this.lastSeen.get(name)?.spec ?? (cached ? specOf(cached) : undefined);
    if (cur && heartbeatOnly(cur, h)) {
      // Answered at once; written at stored + refreshMs (at once when that has passed), coalesced per host.
      this.defer(name, h, checkInMs(cur.lastCheckIn) + this.refreshMs);
      return Promise.resolve();
    }
    return this.store(name, h);
  }

  /** Writes a registration (with any deferred heartbeat of the host folded in). */
  private store(name: string, h: StoredHost): Promise<void> {
    const d = this.deferred.get(name);
    if (d) {
      clearTimeout(d.timer);
      this.deferred.delete(name);
    }
    const spec = specOf(d && d.host.lastCheckIn > h.lastCheckIn ? { ...h, lastCheckIn: d.host.lastCheckIn } : h);
    return this.mutate(name, (c) => ({ ...spec, tags: { ...(c?.tags ?? {}), ...spec.tags } }));
  }

  /** Keeps the latest heartbeat of a host and writes it at `at` (one timer per host). */
  private defer(name: string, h: StoredHost, at: number): void {
    const d = this.deferred.get(name);
    if (d) {
      d.host = h;
      return;
    }
    const timer = setTimeout(() => {
      const latest = this.deferred.get(name);
      if (!latest) return;
      this.deferred.delete(name);
      this.store(name, latest.host).catch((err) => this.log.limited('registry-deferred', 'warn', 'deferred heartbeat write failed', { name, error: (err as Error).message }));
    }, Math.max(0, at - Date.now()));
    timer.unref();
    this.deferred.set(name, { host: h, timer });
  }

  async setWeight(service: string, ip: string | undefined, weight: number): Promise<number> {
    const targets = [...this.o.cache.all()].filter((h) => h.service === service && (ip === undefined || h.ip === ip));
    await Promise.all(targets.map((t) => this.mutate(t.name, (cur) => (cur ? { ...cur, tags: { ...cur.tags, load_balancing_weight: weight } } : undefined))));
    return targets.length;
  }

  async remove(service: string, ip: string): Promise<boolean> {
    const name = resourceName(service, ip);
    // A heartbeat answered before this DELETE and not yet written must not re-create the host after it.
    const d = this.deferred.get(name);
    if (d) {
      clearTimeout(d.timer);
      this.deferred.delete(name);
    }
    try {
      await this.withSlot(() => this.api.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: this.o.namespace, plural: PLURAL, name }));
      this.lastSeen.delete(name);
      this.m.writes.inc({ op: 'delete', outcome: 'ok' });
      return true;
    } catch (err) {
      if (statusOf(err) === 404) return false;
      this.m.writes.inc({ op: 'delete', outcome: 'error' });
      throw err;
    }
  }

  /** Writes the deferred heartbeats (bounded to 2 s), then stops. */
  async close(): Promise<void> {
    clearTimeout(this.timer);
    const flush = [...this.deferred.keys()].map((name) => this.store(name, this.deferred.get(name)!.host).catch(() => undefined));
    await Promise.race([Promise.all(flush), new Promise((r) => setTimeout(r, 2000).unref())]);
    this.closed = true;
    this.agent?.destroy();
    if (this.o.ownsCache !== false) await this.o.cache.stop();
  }

  /** Queues a change of one host; resolves once a write that includes it is stored. */
  private mutate(name: string, m: Mutation): Promise<void> {
    return new Promise((resolve, reject) => {
      const p = this.pending.get(name);
      if (p) {
        const before = p.mutate;
        p.mutate = (cur) => m(before(cur) ?? cur);
        p.waiters.push({ resolve, reject });
      } else this.pending.set(name, { mutate: m, waiters: [{ resolve, reject }] });
      this.pump(name);
    });
  }

  private pump(name: string): void {
    if (this.inflight.has(name)) return;
    const p = this.pending.get(name);
    if (!p) return;
    this.pending.delete(name);
    this.inflight.add(name);
    this.write(name, p.mutate)
      .then(
        () => p.waiters.forEach((w) => w.resolve()),
        (err) => p.waiters.forEach((w) => w.reject(err)),
      )
      .finally(() => {
        this.inflight.delete(name);
        this.pump(name);
      });
  }

  /** Read-modify-write of one RegistryHost with resourceVersion preconditions; bounded retries on conflict. */
  private async write(name: string, m: Mutation): Promise<void> {
    const base = { group: GROUP, version: VERSION, namespace: this.o.namespace, plural: PLURAL };
    let fresh = false;
    for (let attempt = 0; attempt < 6; attempt++) {
      let cur: { resourceVersion: string; spec: RegistryHostSpec } | undefined;
      if (fresh) {
        try {
          const got = await this.withSlot(() => this.api.getNamespacedCustomObject({ ...base, name }));
          cur = { resourceVersion: got.metadata.resourceVersion, spec: got.spec };
        } catch (err) {
          if (statusOf(err) !== 404) throw err;
        }
      } else {
        const cached = this.o.cache.get(name);
        cur = this.lastSeen.get(name) ?? (cached ? { resourceVersion: cached.resourceVersion, spec: specOf(cached) } : undefined);
      }
      const spec = m(cur?.spec);
      if (!spec) return; // nothing to change (a weight for a host that is gone)
      try {
        const body = { apiVersion: `${GROUP}/${VERSION}`, kind: KIND, metadata: { name, ...(cur ? { resourceVersion: cur.resourceVersion } : {}) }, spec };
        const stored = cur
          ? await this.withSlot(() => this.api.replaceNamespacedCustomObject({ ...base, name, body }))
          : await this.withSlot(() => this.api.createNamespacedCustomObject({ ...base, body }));
        this.lastSeen.set(name, { resourceVersion: stored.metadata.resourceVersion, spec: stored.spec });
        this.m.writes.inc({ op: cur ? 'replace' : 'create', outcome: 'ok' });
        return;
      } catch (err) {
        const s = statusOf(err);
        // 409: changed (or created) by another replica since we read it; 404: deleted (expired) since.
        if (s !== 409 && s !== 404) {
          this.m.writes.inc({ op: cur ? 'replace' : 'create', outcome: 'error' });
          throw err;
        }
        this.m.writes.inc({ op: cur ? 'replace' : 'create', outcome: 'conflict' });
        this.lastSeen.delete(name);
        fresh = true;
      }
    }
    throw new Error(`RegistryHost ${name}: still conflicting after 6 attempts`);
  }

  private async withSlot<T>(f: () => Promise<T>): Promise<T> {
    while (this.slots === 0) await new Promise<void>((r) => this.slotWaiters.push(r));
    this.slots--;
    try {
      return await f();
    } finally {
      this.slots++;
      this.slotWaiters.shift()?.();
    }
  }
}

/** A started Kubernetes-backed registry backend with its own watch (for `herald registry` and `registry:`). */
export async function openKubeRegistryBackend(o: { kubeconfig: string; namespace: string; ttlSeconds: number; api: KubeApi; telemetry: Telemetry }): Promise<KubeRegistryBackend> {
  const cache = new RegistryHostCache(o.api, o.namespace, 'registryhosts-server', o.telemetry);
  const backend = new KubeRegistryBackend({ kubeconfig: o.kubeconfig, namespace: o.namespace, ttlSeconds: o.ttlSeconds, cache, telemetry: o.telemetry });
  await backend.start();
  return backend;
}
