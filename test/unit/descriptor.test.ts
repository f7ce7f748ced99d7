/**
 * The pre-built schema (src/xds/descriptor.ts) is the parsed one, for every type it holds: same fields, numbers,
 * types, labels, packing, presence and oneofs; it holds every served type; a stale or broken file is not used.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import { DESCRIPTOR_FILE, SERVED_TYPES, buildDescriptor, writeDescriptor } from '../../src/xds/descriptor';
import { parseProtos, readDescriptor } from '../../src/xds/protos';

const parsed = parseProtos();
const descriptor = buildDescriptor(parsed);
const loaded = protobuf.Root.fromJSON(descriptor.root);

/** Every type and enum of a namespace tree. */
function* members(ns: protobuf.NamespaceBase): Generator<protobuf.Type | protobuf.Enum> {
  for (const o of ns.nestedArray) {
    if (o instanceof protobuf.Type || o instanceof protobuf.Enum) yield o;
    if (o instanceof protobuf.Namespace) yield* members(o);
  }
}

function shape(t: protobuf.Type | protobuf.Enum): unknown {
  if (t instanceof protobuf.Enum) return { values: { ...t.values } };
  return {
    fields: t.fieldsArray.map((f) => {
      f.resolve();
      return {
        name: f.name,
        id: f.id,
        type: f.resolvedType ? f.resolvedType.fullName : f.type,
        repeated: f.repeated,
        map: f.map,
        keyType: f instanceof protobuf.MapField ? f.keyType : undefined,
        packed: f.repeated ? f.packed : undefined,
        required: f.required,
        optional: f.optional,
        hasPresence: Boolean(f.hasPresence),
        oneof: f.partOf?.name,
      };
    }),
    oneofs: t.oneofsArray.map((o) => [o.name, o.oneof]),
  };
}

test('every type of the descriptor has the shape of the parsed one', () => {
  let n = 0;
  for (const t of members(loaded)) {
    const original = parsed.lookup(t.fullName);
    assert.ok(original, `${t.fullName} is not in the parsed schema`);
    // (A type kept only as the parent of a nested type becomes a plain namespace, so it is not among these.)
    assert.equal(original.constructor, t.constructor, t.fullName);
    assert.deepEqual(shape(t), shape(original as protobuf.Type | protobuf.Enum), t.fullName);
    n++;
  }
  assert.ok(n > 200, `only ${n} types`);
});

test('the descriptor holds every served type and encodes what the parsed schema encodes', () => {
  for (const name of SERVED_TYPES) assert.ok(loaded.lookup(name), name);
  const cluster = {
    name: 'web.default',
    type: 'EDS',
    connectTimeout: { seconds: 1, nanos: 5 },
    edsClusterConfig: { edsConfig: { ads: {}, resourceApiVersion: 'V3' } },
    healthChecks: [{ timeout: { seconds: 1 }, interval: { seconds: 2 }, httpHealthCheck: { path: '/healthz' } }],
    commonLbConfig: { healthyPanicThreshold: { value: 50 }, ignoreNewHostsUntilFirstHc: true },
    typedExtensionProtocolOptions: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        explicitHttpConfig: { http2ProtocolOptions: {} },
      },
    },
  };
  const encode = (root: protobuf.Root) => {
    const type = root.lookupType('envoy.config.cluster.v3.Cluster');
    return Buffer.from(type.encode(type.fromObject(cluster)).finish());
  };
  assert.deepEqual(encode(loaded), encode(parsed));
  assert.ok(encode(loaded).includes(Buffer.from('/healthz')));
});

test('a descriptor file is used only when whole and built from the installed packages', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-descriptor-'));
  try {
    const file = writeDescriptor(parsed, dir);
    assert.deepEqual(readDescriptor(file)?.stamp, descriptor.stamp);
    const stale = { ...descriptor, stamp: { ...descriptor.stamp, grpcJsXds: '0.0.0' } };
    fs.writeFileSync(file, JSON.stringify(stale));
    assert.equal(readDescriptor(file), undefined);
    fs.writeFileSync(file, '{"stamp":');
    assert.equal(readDescriptor(file), undefined);
    assert.equal(readDescriptor(path.join(dir, 'missing.json')), undefined);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the built descriptor in dist, when present, is what the build would write now', () => {
  const file = path.join(__dirname, '..', '..', 'src', 'xds', DESCRIPTOR_FILE);
  if (!fs.existsSync(file)) return;
  assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')), JSON.parse(JSON.stringify(descriptor)));
});
