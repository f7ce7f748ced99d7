/**
 * Decoding of DiscoveryRequest / DeltaDiscoveryRequest into the protocol-neutral XdsRequest, and encoding of
 * an Outgoing response into the protocol's envelope. Decoding never throws: malformed bytes become an error.
 */
import type * as protobuf from 'protobufjs';
import { messageType } from './protos';
import { RESOURCE_TYPES } from './resource-types';
import type { Outgoing, XdsRequest } from './stream-state';
import { DELTA_NAME_FIELDS, SOTW_NAME_FIELDS, countFields, encodeDeltaDiscoveryResponse, encodeDiscoveryResponse } from './wire';

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
  encode(out: Outgoing): Buffer;
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

function decodeWith<T>(type: protobuf.Type, bytes: Buffer, map: (msg: T) => Decoded): Decoded {
  let msg: T;
  try {
    msg = type.decode(bytes) as unknown as T;
  } catch (err) {
    return { error: `malformed ${type.name}: ${(err as Error).message}` };
  }
  return map(msg);
}

export function sotwCodec(): Codec {
  const type = messageType('envoy.service.discovery.v3.DiscoveryRequest');
  const struct = structToObject(messageType('google.protobuf.Struct'));
  return {
    protocol: 'sotw',
    countNames: (bytes) => countFields(bytes, SOTW_NAME_FIELDS),
    decode: (bytes) =>
      decodeWith<{ typeUrl: string; responseNonce: string; resourceNames: string[]; errorDetail?: { code?: number; message?: string }; node?: RawNode }>(
        type,
        bytes,
        (m) => ({
          request: {
            typeUrl: m.typeUrl,
            nonce: m.responseNonce,
            resourceNames: m.resourceNames,
            ...(m.errorDetail ? { errorDetail: errorDetail(m.errorDetail) } : {}),
          },
          ...(m.node ? { node: nodeInfo(m.node, struct) } : {}),
        }),
      ),
    encode: (out) =>
      encodeDiscoveryResponse({
        versionInfo: out.version,
        resources: out.resources.map((r) => r.any),
        typeUrl: RESOURCE_TYPES[out.kind].typeUrl,
        nonce: out.nonce,
      }),
  };
}

export function deltaCodec(): Codec {
  const type = messageType('envoy.service.discovery.v3.DeltaDiscoveryRequest');
  const struct = structToObject(messageType('google.protobuf.Struct'));
  return {
    protocol: 'delta',
    countNames: (bytes) => countFields(bytes, DELTA_NAME_FIELDS),
    decode: (bytes) =>
      decodeWith<{
        typeUrl: string;
        responseNonce: string;
        resourceNamesSubscribe: string[];
        resourceNamesUnsubscribe: string[];
        initialResourceVersions: Record<string, string>;
        errorDetail?: { code?: number; message?: string };
        node?: RawNode;
      }>(type, bytes, (m) => ({
        request: {
          typeUrl: m.typeUrl,
          nonce: m.responseNonce,
          subscribe: m.resourceNamesSubscribe,
          unsubscribe: m.resourceNamesUnsubscribe,
          initialVersions: m.initialResourceVersions,
          ...(m.errorDetail ? { errorDetail: errorDetail(m.errorDetail) } : {}),
        },
        ...(m.node ? { node: nodeInfo(m.node, struct) } : {}),
      })),
    encode: (out) =>
      encodeDeltaDiscoveryResponse({
        systemVersionInfo: out.version,
        resources: out.resources.map((r) => r.delta),
        removed: out.removed,
        typeUrl: RESOURCE_TYPES[out.kind].typeUrl,
        nonce: out.nonce,
      }),
  };
}
