/**
 * What Herald last sent one proxy, decoded (the admin API's /config, `herald config`): per type, every resource
 * the proxy was sent, with the version it holds, the version the cache holds now, and the resource as JSON. A
 * resource whose version moved on since it was sent is shown as the cache holds it now, marked not current.
 */
import type { XdsCache } from '../xds/cache';
import { decodeResource } from '../xds/decode';
import { KIND_ORDER, RESOURCE_TYPES, type ResourceKind } from '../xds/resource-types';
import type { ProxyInfo, XdsServer } from '../xds/server';

export interface SentResource {
  readonly name: string;
  /** The version the proxy was sent (and holds once it ACKs). */
  readonly sentVersion: string;
  /** The version in the cache now; '' when the resource is gone. */
  readonly currentVersion: string;
  readonly current: boolean;
  readonly resource?: Record<string, unknown>;
}

export interface ProxyConfig {
  readonly proxy: ProxyInfo;
  /** Keyed by the short type name: CDS, EDS, LDS, RDS. */
  readonly types: Partial<Record<string, SentResource[]>>;
}

export interface ConfigFilter {
  /** Short type names (CDS, EDS, LDS, RDS) or kinds; empty means all. */
  readonly types: readonly string[];
  /** Resource names; empty means all. */
  readonly names: readonly string[];
}

const SHORT = new Map(KIND_ORDER.map((k) => [RESOURCE_TYPES[k].short.toLowerCase(), k] as const));

/** A type given as CDS/EDS/LDS/RDS or cluster/endpoint/listener/route; undefined when unknown. */
export function kindFromName(type: string): ResourceKind | undefined {
  const t = type.toLowerCase();
  return SHORT.get(t) ?? KIND_ORDER.find((k) => k === t);
}

export function proxyConfig(xds: XdsServer, cache: XdsCache, proxy: string, filter: ConfigFilter): ProxyConfig[] {
  const kinds = filter.types.length === 0 ? KIND_ORDER : filter.types.map(kindFromName).filter((k): k is ResourceKind => k !== undefined);
  const names = new Set(filter.names);
  return xds.sent(proxy).map(({ info, held }) => {
    const types: Record<string, SentResource[]> = {};
    for (const kind of kinds) {
      const now = cache.resources(info.view, kind);
      const out: SentResource[] = [];
      for (const [name, sentVersion] of [...held[kind]].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        if (names.size > 0 && !names.has(name)) continue;
        const res = now.get(name);
        out.push({ name, sentVersion, currentVersion: res?.version ?? '', current: res?.version === sentVersion, ...(res ? { resource: decodeResource(kind, res.any) } : {}) });
      }
      types[RESOURCE_TYPES[kind].short] = out;
    }
    return { proxy: info, types };
  });
}
