/**
 * RegistryHost resources (herald.io/v1alpha1, deploy/registry-crd.yaml): their encoding (hashed names, RFC 3339
 * check-ins with microseconds, the spec the CRD promises) and `RegistryHostCache`, every RegistryHost of one
 * namespace kept by Herald's informer (a watch, never a poll), read by the Kubernetes-backed registry server
 * (kube-backend.ts) and the registry source (kube-backend-source.ts).
 *
 * Ownership: the cache owns its informer and store; values handed out must not be modified.
 */
import { createHash } from 'node:crypto';
import { Informer, type Change, type KubeApi } from '../kubernetes/informer';
import type { StoredHost } from './store';
import type { Logger } from '../../log/log';
import type { Telemetry } from '../../telemetry';

export const GROUP = 'herald.io';
export const VERSION = 'v1alpha1';
export const PLURAL = 'registryhosts';
export const KIND = 'RegistryHost';

/** The spec of a RegistryHost (the CRD's schema in deploy/registry-crd.yaml). */
export interface RegistryHostSpec {
  service: string;
  ip: string;
  port: number;
  revision: string;
  serviceRepoName: string;
  /** RFC 3339 UTC with microseconds, e.g. 2026-12-01T06:16:28.999940Z. */
  lastCheckIn: string;
  tags: Record<string, unknown>;
}

/** A cached RegistryHost: the stored host plus the resource's name and version. */
export interface CachedHost extends StoredHost {
  readonly name: string;
  readonly resourceVersion: string;
}

/** The resource name of a host: a hash, since service names may hold any character (the original's do). */
export function resourceName(service: string, ip: string): string {
  return `rh-${createHash('sha256').update(`${service.length}:${service}\n${ip}`).digest('hex').slice(0, 40)}`;
}

export function collectionPath(namespace: string): string {
  return `/apis/${GROUP}/${VERSION}/namespaces/${encodeURIComponent(namespace)}/${PLURAL}`;
}

/** Epoch ms (with microseconds) → RFC 3339 UTC with 6 fraction digits. */
export function checkInText(ms: number): string {
  const whole = Math.floor(ms);
  const micros = Math.min(999, Math.round((ms - whole) * 1000));
  return new Date(whole).toISOString().replace(/Z$/, `${String(micros).padStart(3, '0')}Z`);
}

/** RFC 3339 (any fraction) → epoch ms with microseconds; NaN when not a time. */
export function checkInMs(s: string): number {
  const m = /^(.*T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(s);
  if (!m) return NaN;
  const base = Date.parse(`${m[1]}${m[3]}`);
  return base + (m[2] ? Number(`0.${m[2]}`) * 1000 : 0);
}

/** A raw RegistryHost → cached form; undefined (left out, logged to `log`) when its spec is not what the CRD promises. */
export function compactHost(raw: any, log: Logger): CachedHost | undefined {
  const s = raw?.spec;
  const at = typeof s?.lastCheckIn === 'string' ? checkInMs(s.lastCheckIn) : NaN;
  if (typeof s?.service !== 'string' || typeof s.ip !== 'string' || !Number.isInteger(s.port) || Number.isNaN(at)) {
    log.limited(`registryhost-bad:${raw?.metadata?.name}`, 'warn', 'RegistryHost with a malformed spec left out', { name: raw?.metadata?.name });
    return undefined;
  }
  return {
    name: raw.metadata.name,
    resourceVersion: raw.metadata.resourceVersion ?? '',
    service: s.service,
    ip: s.ip,
    port: s.port,
    revision: typeof s.revision === 'string' ? s.revision : '',
    serviceRepoName: typeof s.serviceRepoName === 'string' ? s.serviceRepoName : '',
    lastCheckIn: at,
    tags: typeof s.tags === 'object' && s.tags !== null && !Array.isArray(s.tags) ? s.tags : {},
  };
}

const sameHost = (a: CachedHost, b: CachedHost) => a.resourceVersion === b.resourceVersion;

/**
 * Every RegistryHost of a namespace, kept by a watch. `onChange` runs synchronously after each applied batch.
 */
export class RegistryHostCache {
  private readonly informer: Informer<CachedHost>;
  private readonly listeners = new Set<(changes: readonly Change<CachedHost>[], relist: boolean) => void>();

  /** @param name the informer's name in logs and metrics */
  constructor(api: KubeApi, namespace: string, name: string, telemetry: Telemetry) {
    this.informer = new Informer<CachedHost>(api, {
      name,
      path: collectionPath(namespace),
      transform: (raw) => compactHost(raw, telemetry.log),
      equal: sameHost,
      onChanges: (changes, meta) => {
        for (const l of this.listeners) l(changes, meta.relist);
      },
      watchTimeoutSeconds: 60,
      telemetry,
    });
  }

  /** Starts the watch; resolves once the first list has been applied. */
  async start(): Promise<void> {
    this.informer.start();
    await this.informer.synced();
  }

  get synced(): boolean {
    return this.informer.hasSynced;
  }

  stop(): Promise<void> {
    return this.informer.stop();
  }

  /** `l(changes, relist)` runs after each applied batch: a (re)list when `relist`, else one watch event. */
  onChange(l: (changes: readonly Change<CachedHost>[], relist: boolean) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  get(name: string): CachedHost | undefined {
    return this.informer.get(name);
  }

  all(): IterableIterator<CachedHost> {
    return this.informer.values();
  }
}

