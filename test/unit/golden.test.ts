/**
 * Golden files: test/golden/<case>.in.yaml (a view, an optional policy `defaults:` block, and services in the
 * services-file format) → test/golden/<case>.out.yaml (every resource translateMesh produces for that view,
 * encoded the way the cache encodes it — `encodeResource`: the strict schema walk, the kind's validators, then
 * protobufjs — and decoded back, as protobufjs toObject JSON, by kind in xDS order, names in translator order).
 * A case with `views:` (several named views) shows instead what views share (see renderViews).
 * `UPDATE_GOLDEN=1` rewrites the .out.yaml files instead of comparing; review the diff. Determinism: every case is
 * rendered again from its input shuffled (service order, endpoint order, object key order, map insertion order)
 * with a seeded PRNG, for several seeds, and must give the same bytes.
 *
 * Tests run from dist/, so the golden folder is found from the repository root, not from __dirname.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { parseServicesFile } from '../../src/sources/file/services-file';
import { mergeSources } from '../../src/model/merge';
import { resolvePolicy, validatePolicyOverrides } from '../../src/model/policy';
import { translateMesh } from '../../src/translate/index';
import { viewKey, type ProxyView } from '../../src/translate/view';
import { XdsCache } from '../../src/xds/cache';
import { Publisher } from '../../src/pipeline/publisher';
import { encodeResource } from '../../src/xds/encode';
import { messageType } from '../../src/xds/protos';
import { KIND_ORDER, RESOURCE_TYPES } from '../../src/xds/resource-types';
import type { SourceService, SourceSnapshot } from '../../src/sources/source';
import { repoRoot } from '../support/repo';
import { testTelemetry } from '../support/telemetry';
import { prng } from '../support/prng';

const GOLDEN = path.join(repoRoot(), 'test', 'golden');
const UPDATE = process.env.UPDATE_GOLDEN === '1';

/** '@type' first in every object, the rest in protobuf field order (toObject's order). */
function typeFirst(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(typeFirst);
  if (v === null || typeof v !== 'object') return v;
  const o = v as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  if ('@type' in o) out['@type'] = o['@type'];
  for (const [k, x] of Object.entries(o)) if (k !== '@type') out[k] = typeFirst(x);
  return out;
}


function shuffled<T>(items: readonly T[], rnd: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** The same plain object with its keys (recursively) inserted in a shuffled order; arrays keep their order. */
function shuffledKeys<T>(v: T, rnd: () => number): T {
  if (Array.isArray(v)) return v.map((x) => shuffledKeys(x, rnd)) as T;
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(shuffled(Object.entries(v as Record<string, unknown>), rnd).map(([k, x]) => [k, shuffledKeys(x, rnd)])) as T;
}

/**
 * The input in another order that means the same: services in the source snapshot, each service's endpoints,
 * the key order of labels and policies, and the merged mesh's map insertion order.
 */
function shuffleSnapshot(snapshot: SourceSnapshot, rnd: () => number): SourceSnapshot {
  return new Map(
    shuffled([...snapshot], rnd).map(([name, s]): [string, SourceService] => [
      name,
      {
        endpoints: shuffled(s.endpoints, rnd).map((e) => shuffledKeys(e, rnd)),
        ...(s.policy ? { policy: shuffledKeys(s.policy, rnd) } : {}),
      },
    ]),
  );
}

/**
 * A view-sharing case (`views:` instead of `view:`): the views are built by a real Publisher into a real XdsCache,
 * and the output lists, per view, its resources by kind; then per resource the groups of views that hold one
 * encoding of it (the same bytes object and version); then how many encodings were made against how many
 * resources the views hold.
 */
function renderViews(input: { views: Record<string, ProxyView>; services: unknown }, where: string): string {
  const parsed = parseServicesFile(stringify({ services: input.services }), 'golden');
  if (!parsed.ok) throw new Error(`${where}: ${parsed.problems.join('; ')}`);
  const mesh = mergeSources(['golden'], new Map([['golden', parsed.snapshot]]));
  const cache = new XdsCache('golden');
  const publisher = new Publisher(cache, { telemetry: testTelemetry() });
  publisher.update(mesh);
  publisher.startServing();
  const keys = Object.fromEntries(Object.entries(input.views).map(([n, v]) => [n, viewKey(v)]));
  for (const k of Object.values(keys)) publisher.buildView(k);
  const views: Record<string, Record<string, string[]>> = {};
  // kind/name → encoding (the bytes object) → the views holding exactly that encoding.
  const holders = new Map<string, Map<unknown, string[]>>();
  let held = 0;
  for (const [n, k] of Object.entries(keys)) {
    views[n] = {};
    for (const kind of KIND_ORDER) {
      const res = cache.resources(k, kind);
      views[n]![`${kind}s`] = [...res.keys()];
      for (const [name, r] of res) {
        const id = `${kind}/${name}`;
        let h = holders.get(id);
        if (!h) holders.set(id, (h = new Map()));
        const list = h.get(r.any) ?? [];
        h.set(r.any, [...list, n]);
        held++;
      }
    }
  }
  // Each line: the groups of views that share one encoding of the resource (one group: shared by all holders).
  const sharing: Record<string, string[]> = {};
  for (const [id, h] of [...holders].sort(([a], [b]) => (a < b ? -1 : 1))) sharing[id] = [...h.values()].map((g) => g.join(' + '));
  const out = { views, sharing, encodings: { made: cache.encodings, heldByViews: held } };
  return `# Generated from ${path.basename(where)} by test/unit/golden.test.ts; UPDATE_GOLDEN=1 rewrites it.\n${stringify(out, { aliasDuplicateObjects: false, lineWidth: 0 })}`;
}

function render(inputText: string, where: string, rnd?: () => number): string {
  const input = parseYaml(inputText) as { view: ProxyView; views?: Record<string, ProxyView>; defaults?: unknown; services: unknown };
  if (input.views) return renderViews(input as { views: Record<string, ProxyView>; services: unknown }, where);
  const parsed = parseServicesFile(stringify({ services: input.services }), 'golden');
  if (!parsed.ok) throw new Error(`${where}: ${parsed.problems.join('; ')}`);
  const defaults = validatePolicyOverrides(rnd ? shuffledKeys(input.defaults, rnd) : input.defaults, 'defaults');
  if (defaults.problems.length > 0) throw new Error(`${where}: ${defaults.problems.join('; ')}`);
  let mesh = mergeSources(['golden'], new Map([['golden', rnd ? shuffleSnapshot(parsed.snapshot, rnd) : parsed.snapshot]]));
  if (rnd) mesh = { services: new Map(shuffled([...mesh.services], rnd)) };
  const updates = translateMesh(mesh, input.view, { policy: resolvePolicy(defaults.overrides) });
  const out: Record<string, unknown[]> = {};
  const anyType = messageType('google.protobuf.Any');
  for (const kind of KIND_ORDER) {
    const type = messageType(RESOURCE_TYPES[kind].message);
    const list: unknown[] = [];
    for (const u of updates.filter((x) => x.kind === kind)) {
      for (const r of u.upsert ?? []) {
        const encoded = encodeResource(kind, r);
        if (typeof encoded === 'string') throw new Error(`${where}: ${encoded}`);
        const any = anyType.decode(encoded.any) as unknown as { value: Uint8Array };
        const decoded = type.decode(any.value);
        list.push(typeFirst(type.toObject(decoded, { json: true, enums: String, longs: Number })));
      }
    }
    out[`${kind}s`] = list;
  }
  return `# Generated from ${path.basename(where)} by test/unit/golden.test.ts; UPDATE_GOLDEN=1 rewrites it.\n${stringify(out, { aliasDuplicateObjects: false, lineWidth: 0 })}`;
}

const cases = fs
  .readdirSync(GOLDEN)
  .filter((f) => f.endsWith('.in.yaml'))
  .sort();

test('golden cases exist', () => {
  assert.ok(cases.length >= 8, `expected the golden cases in ${GOLDEN}, found ${cases.length}`);
});

for (const file of cases) {
  const name = file.slice(0, -'.in.yaml'.length);
  test(`golden: ${name}`, () => {
    const inFile = path.join(GOLDEN, file);
    const outFile = path.join(GOLDEN, `${name}.out.yaml`);
    const text = render(fs.readFileSync(inFile, 'utf8'), inFile);
    if (UPDATE) {
      fs.writeFileSync(outFile, text);
      return;
    }
    assert.ok(fs.existsSync(outFile), `${outFile} is missing: run with UPDATE_GOLDEN=1 and review it`);
    assert.equal(text, fs.readFileSync(outFile, 'utf8'), `${name}: translation differs from ${outFile} (UPDATE_GOLDEN=1 rewrites it; review the diff)`);
  });
}

const SEEDS = [1, 2, 3, 42, 20261201];

for (const file of cases) {
  const name = file.slice(0, -'.in.yaml'.length);
  test(`golden determinism: ${name}: shuffled service, endpoint, key and map order give byte-identical output`, () => {
    const inFile = path.join(GOLDEN, file);
    const text = fs.readFileSync(inFile, 'utf8');
    const expected = render(text, inFile);
    for (const seed of SEEDS) assert.equal(render(text, inFile, prng(seed)), expected, `${name}: seed ${seed} changed the output`);
  });
}

test('golden determinism: the shuffle really reorders the input', () => {
  const rnd = prng(SEEDS[0]!);
  const order = Array.from({ length: 10 }, (_, i) => i);
  assert.notDeepEqual(shuffled(order, rnd), order);
  assert.notDeepEqual(Object.keys(shuffledKeys(Object.fromEntries(order.map((i) => [`k${i}`, i])), rnd)), order.map((i) => `k${i}`));
});
