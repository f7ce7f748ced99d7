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

function varintSize(n: number): number {
  let size = 1;
  while (n > 0x7f) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
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

/**
 * A response encoded without its nonce: `head` holds the fields before the nonce, `tail` those after it, so that
 * streams sharing a response frame the same two buffers around their own nonce (`withNonce`).
 */
export interface ResponseParts {
  readonly head: Buffer;
  readonly tail: Buffer;
}

const EMPTY = Buffer.alloc(0);

/** Field `fieldNo` (length-delimited) holding `len` bytes: the size of its tag and length prefix. */
function prefixSize(fieldNo: number, len: number): number {
  return varintSize((fieldNo << 3) | WIRE_LEN) + varintSize(len);
}

function writeVarint(out: Buffer, pos: number, n: number): number {
  while (n > 0x7f) {
    out[pos++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  out[pos++] = n;
  return pos;
}

/**
 * The fields of a response up to (not including) the nonce, in one allocation: `version` (field 1, a string),
 * the pre-encoded `resources` (field 2, repeated), and `typeUrl` (field 4). Empty strings are omitted (proto3).
 */
function encodeHead(version: string, resources: readonly Buffer[], typeUrl: string): Buffer {
  const vLen = Buffer.byteLength(version);
  const tLen = Buffer.byteLength(typeUrl);
  let size = (vLen > 0 ? prefixSize(1, vLen) + vLen : 0) + (tLen > 0 ? prefixSize(4, tLen) + tLen : 0);
  for (const r of resources) size += prefixSize(2, r.length) + r.length;
  const out = Buffer.allocUnsafe(size);
  let pos = 0;
  if (vLen > 0) {
    out[pos++] = (1 << 3) | WIRE_LEN;
    pos = writeVarint(out, pos, vLen);
    pos += out.write(version, pos, 'utf8');
  }
  for (const r of resources) {
    out[pos++] = (2 << 3) | WIRE_LEN;
    pos = writeVarint(out, pos, r.length);
    pos += r.copy(out, pos);
  }
  if (tLen > 0) {
    out[pos++] = (4 << 3) | WIRE_LEN;
    pos = writeVarint(out, pos, tLen);
    pos += out.write(typeUrl, pos, 'utf8');
  }
  return out;
}

/**
 * A whole response not yet laid out: the shared `parts` and one stream's `nonce` (field 5 in both DiscoveryResponse
 * and DeltaDiscoveryResponse), with its encoded `length`. `writeFrame` lays it out into a buffer the caller owns,
 * so a transport that copies the bytes anyway can take them from a reused buffer instead of one per stream.
 */
export interface ResponseFrame {
  readonly parts: ResponseParts;
  readonly nonce: string;
  readonly length: number;
}

export function responseFrame(parts: ResponseParts, nonce: string): ResponseFrame {
  const nLen = Buffer.byteLength(nonce);
  return { parts, nonce, length: parts.head.length + (nLen > 0 ? prefixSize(5, nLen) + nLen : 0) + parts.tail.length };
}

/** Writes `frame` into `out` from `at` (room for at least `frame.length` bytes); returns where it ended. */
export function writeFrame(frame: ResponseFrame, out: Buffer, at = 0): number {
  const { parts, nonce } = frame;
  let pos = at + parts.head.copy(out, at);
  if (nonce.length > 0) {
    out[pos++] = (5 << 3) | WIRE_LEN;
    pos = writeVarint(out, pos, Buffer.byteLength(nonce));
    pos += out.write(nonce, pos, 'utf8');
  }
  pos += parts.tail.copy(out, pos);
  return pos;
}

/**
 * `frame` as the buffers a transport writes in order, without laying the whole of it out: the shared head as it
 * is, then one small buffer of this stream's own, the nonce field followed by the (small) tail.
 */
export function frameChunks(frame: ResponseFrame): [Buffer, Buffer] {
  const { parts, nonce } = frame;
  const rest = Buffer.allocUnsafe(frame.length - parts.head.length);
  let pos = 0;
  if (nonce.length > 0) {
    rest[pos++] = (5 << 3) | WIRE_LEN;
    pos = writeVarint(rest, pos, Buffer.byteLength(nonce));
    pos += rest.write(nonce, pos, 'utf8');
  }
  parts.tail.copy(rest, pos);
  return [parts.head, rest];
}

/** `frame` laid out whole in a new Buffer after `reserve` bytes left for the caller (a transport's prefix). */
export function frameBuffer(frame: ResponseFrame, reserve: number): Buffer {
  const out = Buffer.allocUnsafe(reserve + frame.length);
  writeFrame(frame, out, reserve);
  return out;
}

/** The whole response as its own Buffer: `parts` framed around the nonce. */
export function withNonce(parts: ResponseParts, nonce: string): Buffer {
  const frame = responseFrame(parts, nonce);
  const out = Buffer.allocUnsafe(frame.length);
  writeFrame(frame, out);
  return out;
}

/** DiscoveryResponse without its nonce: { version_info = 1; resources = 2; type_url = 4 | nonce = 5 | control_plane = 6 } */
export function discoveryResponseParts(r: Omit<SotwEnvelope, 'nonce'>): ResponseParts {
  const tail: Buffer[] = [];
  field(tail, 6, r.controlPlane);
  return { head: encodeHead(r.versionInfo, r.resources, r.typeUrl), tail: tail.length ? Buffer.concat(tail) : EMPTY };
}

/** DiscoveryResponse { version_info = 1; resources = 2; type_url = 4; nonce = 5; control_plane = 6 } */
export function encodeDiscoveryResponse(r: SotwEnvelope): Buffer {
  return withNonce(discoveryResponseParts(r), r.nonce);
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

/** DeltaDiscoveryResponse without its nonce: { system_version_info = 1; resources = 2; type_url = 4 | nonce = 5 |
 *  removed_resources = 6; control_plane = 7 } */
export function deltaDiscoveryResponseParts(r: Omit<DeltaEnvelope, 'nonce'>): ResponseParts {
  const tail: Buffer[] = [];
  if (r.removed.length > 0) {
    // One allocation for every removed name (a reconnect can remove 100k+ at once).
    let size = 0;
    const lens = r.removed.map((name) => {
      const len = Buffer.byteLength(name);
      size += 1 + varintSize(len) + len;
      return len;
    });
    const out = Buffer.allocUnsafe(size);
    let pos = 0;
    r.removed.forEach((name, i) => {
      out[pos++] = (6 << 3) | WIRE_LEN;
      pos = writeVarint(out, pos, lens[i]!);
      pos += out.write(name, pos, 'utf8');
    });
    tail.push(out);
  }
  field(tail, 7, r.controlPlane);
  return {
    head: encodeHead(r.systemVersionInfo, r.resources, r.typeUrl),
    tail: tail.length === 0 ? EMPTY : tail.length === 1 ? tail[0]! : Buffer.concat(tail),
  };
}

/** DeltaDiscoveryResponse { system_version_info = 1; resources = 2; type_url = 4; nonce = 5;
 *  removed_resources = 6; control_plane = 7 } */
export function encodeDeltaDiscoveryResponse(r: DeltaEnvelope): Buffer {
  return withNonce(deltaDiscoveryResponseParts(r), r.nonce);
}

/**
 * Counts the top-level fields numbered `fields` in a protobuf message, walking tags and lengths only (no
 * decode, no allocation), so a request's name count can be bounded before protobufjs builds an object per
 * name. Returns -1 for bytes that are not a well-formed message at the top level (the decoder then reports why).
 * DiscoveryRequest names: resource_names = 3, resource_locators = 7. DeltaDiscoveryRequest:
 * resource_names_subscribe = 3, resource_names_unsubscribe = 4, initial_resource_versions = 5 (one map entry
 * each), resource_locators_subscribe = 8, resource_locators_unsubscribe = 9.
 */
export function countFields(bytes: Uint8Array, fields: ReadonlySet<number>): number {
  let count = 0;
  const problem = walkFields(bytes, (fieldNo) => {
    if (fields.has(fieldNo)) count++;
  });
  return problem === undefined ? count : -1;
}

export const SOTW_NAME_FIELDS: ReadonlySet<number> = new Set([3, 7]);
export const DELTA_NAME_FIELDS: ReadonlySet<number> = new Set([3, 4, 5, 8, 9]);

/** One top-level field: a varint's value, or a length-delimited field's byte range within the message. */
export type FieldVisitor = (fieldNo: number, wire: number, value: number, start: number, end: number) => void;

/**
 * Walks the top-level fields of a protobuf message, calling `visit` for each; returns an error message for bytes
 * that are not a well-formed message. Length-delimited fields are passed as ranges (no copy), so a request naming
 * 150k resources is read without 150k intermediate objects.
 */
export function walkFields(bytes: Uint8Array, visit: FieldVisitor): string | undefined {
  let pos = 0;
  const n = bytes.length;
  const readVarint = (): number => {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= n) return -1;
      const b = bytes[pos++]!;
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return result;
      mul *= 128;
    }
    return -1;
  };
  while (pos < n) {
    const at = pos;
    const tag = readVarint();
    if (tag < 0) return `invalid tag at offset ${at}`;
    const fieldNo = Math.floor(tag / 8);
    const wire = tag & 7;
    if (fieldNo === 0) return `invalid field number 0 at offset ${at}`;
    switch (wire) {
      case 0: {
        const v = readVarint();
        if (v < 0) return `invalid varint at offset ${at}`;
        visit(fieldNo, wire, v, 0, 0);
        break;
      }
      case 1:
        pos += 8;
        break;
      case 2: {
        const len = readVarint();
        if (len < 0 || pos + len > n) return `invalid length at offset ${at}`;
        visit(fieldNo, wire, len, pos, pos + len);
        pos += len;
        break;
      }
      case 5:
        pos += 4;
        break;
      default:
        return `invalid wire type ${wire} at offset ${at}`;
    }
    if (pos > n) return `truncated field at offset ${at}`;
  }
  return undefined;
}
