/**
 * Per-proxy sync status, the one place it is derived (the admin API's /status serves it; `herald status` and the
 * dashboard only show it). Per type:
 *   SYNCED    the latest response was ACKed and the proxy holds the cache's version of everything it subscribed to;
 *   STALE     a response awaits its ACK (`ageMs`), or newer versions wait to be sent (`behind`);
 *   NACK      the latest response was rejected (`message`), and nothing newer has been sent since;
 *   NOT SENT  subscribed, nothing sent yet (e.g. a gRPC client's EDS before its cluster exists).
 * Types a proxy never asked for are absent.
 */
import { KIND_ORDER, RESOURCE_TYPES } from '../xds/resource-types';
import type { ProxySummary } from '../xds/server';
import type { TypeSummary } from '../xds/stream-state';

export type SyncState = 'SYNCED' | 'STALE' | 'NACK' | 'NOT SENT';

export interface TypeStatus {
  readonly state: SyncState;
  /** How long the pending response has waited for its ACK, ms. */
  readonly ageMs?: number;
  /** Subscribed resources with a newer version not yet sent. */
  readonly behind: number;
  readonly version: string;
  readonly message?: string;
}

export interface ProxyStatus {
  readonly streamId: number;
  readonly nodeId: string;
  /** What the node says it is: node.cluster (Envoy's service cluster). */
  readonly service: string;
  readonly protocol: 'sotw' | 'delta';
  readonly view: string;
  readonly peer: string;
  readonly connectedAt: string;
  /** Keyed by CDS, EDS, LDS, RDS. */
  readonly types: Partial<Record<string, TypeStatus>>;
}

export function typeStatus(t: TypeSummary): TypeStatus {
  const base = { behind: t.behind, version: t.lastSentVersion };
  if (t.lastSentVersion === '') return { ...base, state: 'NOT SENT' };
  if (t.lastNack && t.lastNack.version === t.lastSentVersion && t.waitingForAckMs === undefined) return { ...base, state: 'NACK', message: t.lastNack.message };
  if (t.waitingForAckMs !== undefined) return { ...base, state: 'STALE', ageMs: t.waitingForAckMs };
  if (t.behind > 0) return { ...base, state: 'STALE' };
  return { ...base, state: 'SYNCED' };
}

export function proxyStatus(p: ProxySummary): ProxyStatus {
  const types: Record<string, TypeStatus> = {};
  for (const kind of KIND_ORDER) {
    const snap = p.types[RESOURCE_TYPES[kind].typeUrl];
    if (snap) types[RESOURCE_TYPES[kind].short] = typeStatus(snap);
  }
  return {
    streamId: p.streamId,
    nodeId: p.nodeId,
    service: p.cluster,
    protocol: p.protocol,
    view: p.view,
    peer: p.peer,
    connectedAt: p.connectedAt,
    types,
  };
}
