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

export interface SourceSink {
  /**
   * A source's new complete state. `synced` is true once the source has read its input fully at least once
   * (Herald serves nothing until every source has synced).
   */
  update(source: string, snapshot: SourceSnapshot, synced: boolean): void;
}

export interface Source {
  /** Unique among configured sources; endpoints carry it. */
  readonly name: string;
  /** Starts producing updates into `sink`. Resolves once started, not once synced. */
  start(sink: SourceSink): Promise<void>;
  /** Stops all timers and watches. Safe to call twice. */
  stop(): Promise<void>;
}
