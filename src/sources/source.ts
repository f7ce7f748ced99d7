/**
 * The contract between a source (files, Kubernetes, the legacy registry) and the model. Owned by the consumer.
 */
import type { Endpoint, ServicePolicy } from '../model/types';

/** One source's view of one service. */
export interface SourceService {
  readonly endpoints: readonly Endpoint[];
  readonly policy?: ServicePolicy;
}

/** Everything a source currently knows, keyed by service name. Immutable once emitted. */
export type SourceSnapshot = ReadonlyMap<string, SourceService>;

/** What a source says about one update. */
export interface UpdateMeta {
  /** The update comes from a full re-read of the input (a poll, a relist), not a single event. */
  readonly fullRead?: boolean;
  /**
   * The zones this source's topology knows, whether or not an endpoint is in them yet (e.g. its Kubernetes nodes'):
   * a proxy stating one of them gets a zone-aware view. Absent: unchanged since the last update that said.
   */
  readonly zones?: ReadonlySet<string>;
}

export interface SourceSink {
  /**
   * A source's new complete state. `synced` is true once the source has read its input fully at least once
   * (Herald serves nothing until every source has synced). Services that did not change should keep their
   * SourceService object, so downstream stages can skip them by identity.
   */
  update(source: string, snapshot: SourceSnapshot, synced: boolean, meta?: UpdateMeta): void;
}

export interface Source {
  /** Unique among configured sources; endpoints carry it. */
  readonly name: string;
  /** Starts producing updates into `sink`. Resolves once started, not once synced. */
  start(sink: SourceSink): Promise<void>;
  /** Stops all timers and watches. Safe to call twice. */
  stop(): Promise<void>;
}
