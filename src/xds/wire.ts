/**
 * Hand-written protobuf encoding of the xDS envelopes. Resources are encoded once (as google.protobuf.Any) by
 * the cache; a response is those bytes framed with a few tags, never a re-encode. Field numbers are from
 * envoy/service/discovery/v3/discovery.proto and google/protobuf/any.proto; wire.test checks them against
 * protobufjs decoding of the same bytes.
 */

const WIRE_LEN = 2;

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

/** Appends field `field` (length-delimited) holding `bytes` to `parts`; empty values are omitted (proto3). */
function field(parts: Buffer[], fieldNo: number, bytes: Buffer | string | undefined): void {
  if (bytes === undefined) return;
  const b = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
  if (b.length === 0) return;
  parts.push(varint((fieldNo << 3) | WIRE_LEN), varint(b.length), b);
}

/** google.protobuf.Any { type_url = 1; value = 2 } */
export function encodeAny(typeUrl: string, value: Uint8Array): Buffer {
  const parts: Buffer[] = [];
  field(parts, 1, typeUrl);
  field(parts, 2, Buffer.from(value.buffer, value.byteOffset, value.byteLength));
  return Buffer.concat(parts);
}

/** envoy.service.discovery.v3.Resource { version = 1; resource = 2; name = 3 } */
export function encodeDeltaResource(name: string, version: string, any: Buffer): Buffer {
  const parts: Buffer[] = [];
  field(parts, 1, version);
  field(parts, 2, any);
  field(parts, 3, name);
  return Buffer.concat(parts);
}

export interface SotwEnvelope {
  readonly versionInfo: string;
  /** Pre-encoded google.protobuf.Any messages. */
  readonly resources: readonly Buffer[];
  readonly typeUrl: string;
  readonly nonce: string;
  /** Pre-encoded envoy.config.core.v3.ControlPlane, if any. */
  readonly controlPlane?: Buffer;
}

/** DiscoveryResponse { version_info = 1; resources = 2; type_url = 4; nonce = 5; control_plane = 6 } */
export function encodeDiscoveryResponse(r: SotwEnvelope): Buffer {
  const parts: Buffer[] = [];
  field(parts, 1, r.versionInfo);
  for (const any of r.resources) parts.push(varint((2 << 3) | WIRE_LEN), varint(any.length), any);
  field(parts, 4, r.typeUrl);
  field(parts, 5, r.nonce);
  field(parts, 6, r.controlPlane);
  return Buffer.concat(parts);
}

export interface DeltaEnvelope {
  readonly systemVersionInfo: string;
  /** Pre-encoded envoy.service.discovery.v3.Resource messages. */
  readonly resources: readonly Buffer[];
  readonly typeUrl: string;
  readonly removed: readonly string[];
  readonly nonce: string;
  readonly controlPlane?: Buffer;
}

/** DeltaDiscoveryResponse { system_version_info = 1; resources = 2; type_url = 4; nonce = 5;
 *  removed_resources = 6; control_plane = 7 } */
export function encodeDeltaDiscoveryResponse(r: DeltaEnvelope): Buffer {
  const parts: Buffer[] = [];
  field(parts, 1, r.systemVersionInfo);
  for (const res of r.resources) parts.push(varint((2 << 3) | WIRE_LEN), varint(res.length), res);
  field(parts, 4, r.typeUrl);
  field(parts, 5, r.nonce);
  for (const name of r.removed) parts.push(varint((6 << 3) | WIRE_LEN), varint(Buffer.byteLength(name)), Buffer.from(name));
  field(parts, 7, r.controlPlane);
  return Buffer.concat(parts);
}
