/**
 * What the xDS server needs to know about views: which one a connecting proxy reads, and when a stream stops
 * reading it. Owned by the server (its consumer); the pipeline's ViewRegistry implements it. The server reads the
 * resources of a view from the cache only, and serves a stream once the cache holds its view.
 */
import type { NodeInfo } from './codec';

export type ViewResolution = { readonly view: string } | { readonly refused: string };

export interface ViewResolver {
  /**
   * The view of a proxy, from its first request's node. Never throws; `refused` (with a reason for the client)
   * when no view can be made for it, which ends the stream with RESOURCE_EXHAUSTED. Each resolved view must be
   * released once.
   */
  resolve(node: NodeInfo): ViewResolution;
  /** A stream that resolved `view` has ended. */
  release(view: string): void;
}
