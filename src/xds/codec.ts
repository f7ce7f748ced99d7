/**
 * Decoding of DiscoveryRequest / DeltaDiscoveryRequest into the protocol-neutral XdsRequest, and encoding of
 * an Outgoing response into the protocol's envelope. Decoding never throws: malformed bytes become an error.
 * Unknown fields (resource_locators, version_info) are skipped, as protobuf requires.
 */
import type * as protobuf from 'protobufjs';
import { messageType } from './protos';
import { RESOURCE_TYPES } from './resource-types';
import type { Outgoing, XdsRequest } from './stream-state';
import { DELTA_NAME_FIELDS, SOTW_NAME_FIELDS, countFields, deltaDiscoveryResponseParts, discoveryResponseParts, responseFrame, walkFields, withNonce, type ResponseFrame, type ResponseParts } from './wire';
import type { SharedSlot } from './shared-responses';

/** The parts of envoy.config.core.v3.Node Herald uses. */
export interface NodeInfo {
  readonly id: string;
  readonly cluster: string;
  readonly zone: string;
  readonly region: string;
  readonly userAgent: string;
  readonly metadata: Readonly<Record<string, unknown>>;
}

export type Decoded = { readonly request: XdsRequest; readonly node?: NodeInfo } | { readonly error: string };

export interface Codec {
  readonly protocol: 'sotw' | 'delta';
  decode(bytes: Buffer): Decoded;
  /**
   * The response's bytes. With a `shared` slot holding `out.version` (shared-responses.ts), the encoding without
   * the nonce is taken from it, or built once and left there for the other streams due the same version.
   */
  encode(out: Outgoing, shared?: SharedSlot): Buffer;
  /** The same response as `encode`, not laid out yet (wire.ts writeFrame): what the server hands to gRPC. */
  frame(out: Outgoing, shared?: SharedSlot): ResponseFrame;
  /** How many resource names the encoded request carries, counted without decoding it; -1 if malformed. */
  countNames(bytes: Buffer): number;
}

interface RawNode {
  id?: string;
  cluster?: string;
  locality?: { zone?: string; region?: string };
  userAgentName?: string;
  metadata?: unknown;
}

function nodeInfo(raw: RawNode | null | undefined, toObject: (m: unknown) => Record<string, unknown>): NodeInfo | undefined {
  if (!raw) return undefined;
  let metadata: Record<string, unknown> = {};
  try {
    metadata = raw.metadata ? toObject(raw.metadata) : {};
  } catch {
    metadata = {};
  }
  return {
    id: raw.id ?? '',
    cluster: raw.cluster ?? '',
    zone: raw.locality?.zone ?? '',
    region: raw.locality?.region ?? '',
    userAgent: raw.userAgentName ?? '',
    metadata,
  };
}

/** google.protobuf.Struct (as protobufjs decodes it) → a plain JSON value. */
function plainValue(v: any): unknown {
  if (!v || typeof v !== 'object') return undefined;
  if ('stringValue' in v) return v.stringValue;
  if ('numberValue' in v) return v.numberValue;
  if ('boolValue' in v) return v.boolValue;
  if ('structValue' in v) return plainStruct(v.structValue);
  if ('listValue' in v) return (v.listValue?.values ?? []).map(plainValue);
  return null;
}

function plainStruct(s: any): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s?.fields ?? {})) out[k] = plainValue(v);
  return out;
}

function structToObject(struct: protobuf.Type): (m: unknown) => Record<string, unknown> {
  return (m) => plainStruct(struct.toObject(m as protobuf.Message, { defaults: false, oneofs: false }));
}

function errorDetail(raw: { code?: number; message?: string } | null | undefined): XdsRequest['errorDetail'] {
  return raw ? { code: raw.code ?? 0, message: raw.message ?? '' } : undefined;
}

/**
 * Decodes a discovery request's top level by hand (wire.ts walkFields): names are sliced straight from the bytes,
 * so the cost is linear and small in the names carried; the node and error_detail sub-messages go through
 * protobufjs. `fields` maps the protocol's field numbers.
 */
function decodeRequest(
  bytes: Buffer,
  name: string,
  f: { typeUrl: number; nonce: number; node: number; error: number; names?: number; subscribe?: number; unsubscribe?: number; initial?: number },
  types: { node: protobuf.Type; status: protobuf.Type; struct: (m: unknown) => Record<string, unknown> },
): Decoded {
  let typeUrl = '';
  let nonce = '';
  let nodeRange: [number, number] | undefined;
  let errorRange: [number, number] | undefined;
  /** SotW names: only their span is kept; they are decoded (walking the span again) if the state machine reads them. */
  let namesStart = -1;
  let namesEnd = -1;
  const subscribe: string[] = [];
  const unsubscribe: string[] = [];
  const initial: Array<[string, string]> = [];
  let entryError: string | undefined;
  const text = (s: number, e: number) => bytes.toString('utf8', s, e);
  const problem = walkFields(bytes, (no, wire, _v, s, e) => {
    if (wire !== 2) return;
    if (no === f.typeUrl) typeUrl = text(s, e);
    else if (no === f.nonce) nonce = text(s, e);
    else if (no === f.node) nodeRange = [s, e];
    else if (no === f.error) errorRange = [s, e];
    else if (no === f.names) {
      // The span of the names, from the first one's tag (one byte: field 3, wire type 2): equal spans name the same.
      if (namesStart < 0) namesStart = s - varintLength(e - s) - 1;
      namesEnd = e;
    }
    else if (no === f.subscribe) subscribe.push(text(s, e));
    else if (no === f.unsubscribe) unsubscribe.push(text(s, e));
    else if (no === f.initial) {
      // map<string, string> entry { key = 1; value = 2 }, each a one-byte tag and a length (read inline: this loop
      // runs once per name).
      let key = '';
      let value = '';
      let p = s;
      while (p < e) {
        const tag = bytes[p++]!;
        let len = 0;
        let mul = 1;
        let b: number;
        do {
          if (p >= e) return void (entryError ??= 'initial_resource_versions: truncated entry');
          b = bytes[p++]!;
          len += (b & 0x7f) * mul;
          mul *= 128;
        } while (b & 0x80);
        if ((tag & 7) !== 2 || p + len > e) return void (entryError ??= 'initial_resource_versions: malformed entry');
        if (tag === 0x0a) key = bytes.toString('utf8', p, p + len);
        else if (tag === 0x12) value = bytes.toString('utf8', p, p + len);
        p += len;
      }
      initial.push([key, value]);
    }
  });
  if (problem || entryError) return { error: `malformed ${name}: ${problem ?? entryError}` };
  let node: NodeInfo | undefined;
  let error: XdsRequest['errorDetail'];
  try {
    if (nodeRange) node = nodeInfo(types.node.decode(bytes.subarray(nodeRange[0], nodeRange[1])) as RawNode, types.struct);
    if (errorRange) error = errorDetail(types.status.decode(bytes.subarray(errorRange[0], errorRange[1])) as { code?: number; message?: string });
  } catch (err) {
    return { error: `malformed ${name}: ${(err as Error).message}` };
  }
  let names: string[] | undefined;
  const request: XdsRequest =
    f.names !== undefined
      ? {
          typeUrl,
          nonce,
          get resourceNames(): string[] {
            if (!names) {
              const out: string[] = (names = []);
              if (namesStart >= 0) {
                // The span walked again: the same bytes, so the same (already validated) fields.
                const span = bytes.subarray(namesStart, namesEnd);
                walkFields(span, (no, wire, _v, s, e) => {
                  if (wire === 2 && no === f.names) out.push(span.toString('utf8', s, e));
                });
              }
            }
            return names;
          },
          ...(namesStart >= 0 ? { namesBytes: bytes.subarray(namesStart, namesEnd) } : {}),
          ...(error ? { errorDetail: error } : {}),
        }
      : { typeUrl, nonce, subscribe, unsubscribe, initialVersions: initial, ...(error ? { errorDetail: error } : {}) };
  return { request, ...(node ? { node } : {}) };
}

function varintLength(n: number): number {
  let size = 1;
  while (n > 0x7f) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function requestTypes() {
  return {
    node: messageType('envoy.config.core.v3.Node'),
    status: messageType('google.rpc.Status'),
    struct: structToObject(messageType('google.protobuf.Struct')),
  };
}

export function sotwCodec(): Codec {
  const types = requestTypes();
  return {
    protocol: 'sotw',
    countNames: (bytes) => countFields(bytes, SOTW_NAME_FIELDS),
    // DiscoveryRequest { version_info = 1; node = 2; resource_names = 3; type_url = 4; response_nonce = 5; error_detail = 6 }
    decode: (bytes) => decodeRequest(bytes, 'DiscoveryRequest', { node: 2, names: 3, typeUrl: 4, nonce: 5, error: 6 }, types),
    encode: (out, shared) => withNonce(sotwParts(out, shared), out.nonce),
    frame: (out, shared) => responseFrame(sotwParts(out, shared), out.nonce),
  };
}

export function deltaCodec(): Codec {
  const types = requestTypes();
  return {
    protocol: 'delta',
    countNames: (bytes) => countFields(bytes, DELTA_NAME_FIELDS),
    // DeltaDiscoveryRequest { node = 1; type_url = 2; resource_names_subscribe = 3; resource_names_unsubscribe = 4;
    //   initial_resource_versions = 5; response_nonce = 6; error_detail = 7 }
    decode: (bytes) =>
      decodeRequest(bytes, 'DeltaDiscoveryRequest', { node: 1, typeUrl: 2, subscribe: 3, unsubscribe: 4, initial: 5, nonce: 6, error: 7 }, types),
    encode: (out, shared) => withNonce(deltaParts(out, shared), out.nonce),
    frame: (out, shared) => responseFrame(deltaParts(out, shared), out.nonce),
  };
}

function sotwParts(out: Outgoing, shared: SharedSlot | undefined): ResponseParts {
  return sharedParts(out, shared, () =>
    discoveryResponseParts({ versionInfo: out.version, resources: out.resources.map((r) => r.any), typeUrl: RESOURCE_TYPES[out.kind].typeUrl }),
  );
}

function deltaParts(out: Outgoing, shared: SharedSlot | undefined): ResponseParts {
  return sharedParts(out, shared, () =>
    deltaDiscoveryResponseParts({
      systemVersionInfo: out.version,
      resources: out.resources.map((r) => r.delta),
      removed: out.removed,
      typeUrl: RESOURCE_TYPES[out.kind].typeUrl,
    }),
  );
}

/** The response without its nonce: the slot's when it holds `out.version` (built once and left there), else fresh. */
function sharedParts(out: Outgoing, shared: SharedSlot | undefined, build: () => ResponseParts): ResponseParts {
  const mine = shared !== undefined && shared.version === out.version;
  let parts = mine ? shared.parts : undefined;
  if (!parts) {
    parts = build();
    if (mine) shared.parts = parts;
  }
  return parts;
}
