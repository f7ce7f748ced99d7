/**
 * The pre-built schema: the part of Envoy's v3 API Herald uses, as a protobufjs JSON descriptor written into
 * dist/ by the build (`scripts/build-descriptor.sh`, run by `make build` and `make product`), never committed.
 *
 * Why: parsing the ~200 .proto files of @grpc/grpc-js-xds at start costs about 130 ms and keeps about 10 MB of
 * RSS resident (protobufjs' names are slices of the files' text, so every file's text stays alive, and the
 * parse grows the young generation). The descriptor holds only the message types reachable from `SERVED_TYPES`
 * (about 300 of the 550 parsed), every field's type written fully qualified, and no options but the ones that
 * change the wire (`packed`, `proto3_optional`): loading it takes about 30 ms.
 *
 * Contract: `buildDescriptor(root)` is pure (it reads `root`, resolved); the descriptor is valid only for the
 * package versions in its `stamp`, which `protos.ts` compares with the installed ones before using it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';

/** The file next to the compiled protos.js that the build writes and `envoyRoot()` reads. */
export const DESCRIPTOR_FILE = 'envoy-descriptor.json';

/**
 * Every message Herald encodes, decodes or looks up by name (tests included): the discovery envelopes, the four
 * served resources, the messages put in an Any (envoy-messages.ts AnyMessages), and the request parts decoded.
 * Everything these reach through their fields is included; nothing else is.
 */
export const SERVED_TYPES = [
  'envoy.service.discovery.v3.DiscoveryRequest',
  'envoy.service.discovery.v3.DiscoveryResponse',
  'envoy.service.discovery.v3.DeltaDiscoveryRequest',
  'envoy.service.discovery.v3.DeltaDiscoveryResponse',
  'envoy.config.cluster.v3.Cluster',
  'envoy.config.endpoint.v3.ClusterLoadAssignment',
  'envoy.config.listener.v3.Listener',
  'envoy.config.route.v3.RouteConfiguration',
  'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
  'envoy.extensions.filters.http.router.v3.Router',
  'envoy.extensions.filters.http.health_check.v3.HealthCheck',
  'envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
  'envoy.config.core.v3.Node',
  'google.rpc.Status',
  'google.protobuf.Struct',
  'google.protobuf.Any',
] as const;

/** Bumped whenever buildDescriptor changes what it writes: a descriptor of another format is stale. */
export const DESCRIPTOR_FORMAT = 1;

/** What a descriptor was built from (format, package versions, served types); any difference makes it stale. */
export interface DescriptorStamp {
  readonly format: number;
  readonly grpcJsXds: string;
  readonly protobufjs: string;
  readonly types: readonly string[];
}

export interface Descriptor {
  readonly stamp: DescriptorStamp;
  /** protobufjs `INamespace` JSON, for `protobuf.Root.fromJSON`. */
  readonly root: protobuf.INamespace;
}

function versionOf(pkg: string): string {
  return (JSON.parse(fs.readFileSync(require.resolve(`${pkg}/package.json`), 'utf8')) as { version: string }).version;
}

/** The stamp of the installed packages. */
export function currentStamp(): DescriptorStamp {
  return { format: DESCRIPTOR_FORMAT, grpcJsXds: versionOf('@grpc/grpc-js-xds'), protobufjs: versionOf('protobufjs'), types: [...SERVED_TYPES] };
}

export function sameStamp(a: DescriptorStamp, b: DescriptorStamp): boolean {
  return a.format === b.format && a.grpcJsXds === b.grpcJsXds && a.protobufjs === b.protobufjs && a.types.length === b.types.length && a.types.every((t, i) => t === b.types[i]);
}

/** The types and enums reachable from `SERVED_TYPES` through fields, by full name (leading dot). */
function closure(root: protobuf.Root): Set<string> {
  const seen = new Set<string>();
  const queue: protobuf.ReflectionObject[] = SERVED_TYPES.map((n) => root.lookup(n) ?? fail(`schema lacks ${n}`));
  while (queue.length > 0) {
    const t = queue.pop()!;
    if (seen.has(t.fullName)) continue;
    seen.add(t.fullName);
    if (t instanceof protobuf.Type) {
      for (const f of t.fieldsArray) {
        f.resolve();
        if (f.resolvedType) queue.push(f.resolvedType);
      }
    }
  }
  return seen;
}

function fail(message: string): never {
  throw new Error(message);
}

type Json = Record<string, unknown>;

function fieldJson(f: protobuf.Field): Json {
  const j: Json = { type: f.resolvedType ? f.resolvedType.fullName : f.type, id: f.id };
  if (f instanceof protobuf.MapField) j.keyType = f.keyType;
  else if (f.repeated) j.rule = 'repeated';
  else if (f.required) j.rule = 'required';
  const options: Json = {};
  if (f.repeated && f.options?.packed !== undefined) options.packed = f.options.packed;
  if (f.options?.proto3_optional) options.proto3_optional = true;
  if (Object.keys(options).length > 0) j.options = options;
  return j;
}

function edition(o: protobuf.ReflectionObject): Json {
  const e = (o as unknown as { _edition?: string })._edition;
  return e && e !== 'proto3' ? { edition: e } : {};
}

function pruned(obj: protobuf.ReflectionObject, keep: ReadonlySet<string>): Json | undefined {
  const out: Json = {};
  if (keep.has(obj.fullName)) {
    if (obj instanceof protobuf.Enum) Object.assign(out, { values: { ...obj.values } }, edition(obj));
    if (obj instanceof protobuf.Type) {
      const fields: Json = {};
      for (const f of obj.fieldsArray) fields[f.name] = fieldJson(f);
      out.fields = fields;
      if (obj.oneofsArray.length > 0) out.oneofs = Object.fromEntries(obj.oneofsArray.map((o) => [o.name, { oneof: [...o.oneof] }]));
      Object.assign(out, edition(obj));
    }
  }
  const children = obj instanceof protobuf.Namespace ? obj.nestedArray : [];
  const nested: Json = {};
  for (const c of children) {
    const p = pruned(c, keep);
    if (p) nested[c.name] = p;
  }
  if (Object.keys(nested).length > 0) out.nested = nested;
  return Object.keys(out).length > 0 ? out : undefined;
}

/** The descriptor of `root` (parsed from the .proto files, resolved) for the installed packages. */
export function buildDescriptor(root: protobuf.Root): Descriptor {
  root.resolveAll();
  return { stamp: currentStamp(), root: pruned(root, closure(root)) as protobuf.INamespace };
}

/** Writes `buildDescriptor(root)` to `dir/DESCRIPTOR_FILE` (atomically) and returns the path. */
export function writeDescriptor(root: protobuf.Root, dir: string): string {
  const file = path.join(dir, DESCRIPTOR_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(buildDescriptor(root)));
  fs.renameSync(tmp, file);
  return file;
}
