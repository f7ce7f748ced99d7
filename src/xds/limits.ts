/**
 * Bounds on what one xDS client can make Herald do: request size and name count, bytes buffered for a stream
 * that does not read, how long its writes may stay blocked, and admission of new streams (rate and total).
 * Defaults live here, in one place; config.ts only maps herald.yaml keys onto these options.
 *
 * Why these defaults (a mesh Herald is sized for: up to 10,000 services, 1,000 endpoints per service):
 * - maxRequestBytes 4 MiB: gRPC's own default receive limit in every other implementation (C core, Go, Java).
 *   The largest honest request is a SotW EDS request or a Delta reconnect naming every cluster: 10,000 names of
 *   ~40 bytes ≈ 0.4 MB, a tenth of the limit. The previous 16 MB let one message carry 600k names.
 * - maxNamesPerRequest 50,000: 5× that largest honest request. Names are counted on the wire before the
 *   request is decoded (wire.ts countNames), so a request past it costs a scan, not a decode.
 * - maxBufferedBytes 16 MiB per stream: above any single response of such a mesh (a full SotW CDS of 10,000
 *   clusters ≈ 5 MB) but small enough that 20 stuck streams cannot hold more than ~320 MB.
 * - maxBlockedMs 30 s: as long as the ACK timeout; an Envoy that has not read a byte for that long is gone or
 *   hostile, and reconnecting it costs one full push.
 * - admission 200 new streams/s (burst 400), 10,000 streams in all: an idle stream costs ~35 KB, a first push
 *   about 0.5–1 ms of CPU on this machine kind; 200/s keeps a storm's event-loop lag bounded (bench/hostile.ts)
 *   while 5,000 reconnecting proxies converge in ~25 s (Istio admits 25/s on 2 cores).
 * - maxStreamsPerConnection 100 (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS, RFC 9113's recommended floor): an Envoy
 *   opens one ADS stream per connection, a gRPC xDS client one ADS stream (plus LRS) per channel; without it one
 *   connection could take the whole of maxStreams. A stream past it is refused by HTTP/2 (RST_STREAM
 *   REFUSED_STREAM) before Herald sees it.
 */

export interface StreamLimits {
  /** A request larger than this is refused with RESOURCE_EXHAUSTED (before it is decoded). */
  readonly maxRequestBytes: number;
  /** A request naming more resources than this (subscribe + unsubscribe + initial versions, or SotW names) is refused with RESOURCE_EXHAUSTED. */
  readonly maxNamesPerRequest: number;
  /** Bytes written to a stream and not yet taken by the transport; past this (with more than one response queued) the stream is closed. */
  readonly maxBufferedBytes: number;
  /** A stream with writes outstanding and no write completed for this long is closed. */
  readonly maxBlockedMs: number;
}

export interface AdmissionLimits {
  /** New streams admitted per second (token bucket refill rate); 0 means no rate limit. */
  readonly newStreamsPerSecond: number;
  /** Token bucket size: streams admitted at once after a quiet period. */
  readonly burst: number;
  /** Streams open at once; 0 means no limit. */
  readonly maxStreams: number;
  /** Streams open at once on one HTTP/2 connection (its SETTINGS_MAX_CONCURRENT_STREAMS). */
  readonly maxStreamsPerConnection: number;
}

export const DEFAULT_STREAM_LIMITS: StreamLimits = {
  maxRequestBytes: 4 << 20,
  maxNamesPerRequest: 50_000,
  maxBufferedBytes: 16 << 20,
  maxBlockedMs: 30_000,
};

export const DEFAULT_ADMISSION: AdmissionLimits = { newStreamsPerSecond: 200, burst: 400, maxStreams: 10_000, maxStreamsPerConnection: 100 };

/**
 * A token bucket: `take()` succeeds while tokens remain; tokens refill at `rate` per second up to `burst`.
 * Owned by one caller; time comes from `now` (ms) so tests can drive it.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.last = now();
  }

  take(): boolean {
    if (this.rate <= 0) return true;
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.rate);
    this.last = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
