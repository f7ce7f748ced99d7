/**
 * What the strict checks cost. Two workloads, each encoded the way Herald encoded before the strict walk
 * (`fromObject` → `verify` → `encode`) and the way `encodeResource` does now (name check → strict walk → the
 * kind's validators → `fromObject` → `encode`), plus the checks alone:
 *
 * - the endpoint fast path's unit of work: one 1,000-endpoint ClusterLoadAssignment (pod-like endpoints with a
 *   `pod` label, three zones);
 * - a full rebuild of one view: every resource translateMesh makes for 1,000 services × 10 endpoints
 *   (1,000 clusters and assignments, the egress listener, the egress route with 1,000 virtual hosts).
 *
 * Prints the median time per workload over blocks of runs, the variants alternating block by block so machine
 * noise and each block's own garbage collection hit all of them alike. `node dist/bench/encode.js
 * [--endpoints 1000] [--services 1000]`; about 20 s.
 */
import { translateEndpoints } from '../src/translate/endpoints';
import { translateMesh } from '../src/translate/index';
import { parseViewKey } from '../src/translate/view';
import { encodeResource, type ResourceInput } from '../src/xds/encode';
import { messageType } from '../src/xds/protos';
import { RESOURCE_TYPES, type ResourceKind } from '../src/xds/resource-types';
import { strictProblem } from '../src/xds/strict';
import { encodeAny } from '../src/xds/wire';
import { meshOf, service } from './common';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}
const ENDPOINTS = flag('--endpoints', 1000);
const SERVICES = flag('--services', 1000);
const view = parseViewKey('envoy|zone-a|127.0.0.1:15001');

type Work = ReadonlyArray<readonly [ResourceKind, ResourceInput]>;

function before(work: Work): void {
  for (const [kind, input] of work) {
    const desc = RESOURCE_TYPES[kind];
    const type = messageType(desc.message);
    const msg = type.fromObject(input.message as Record<string, unknown>);
    if (type.verify(msg)) throw new Error('invalid');
    encodeAny(desc.typeUrl, type.encode(msg).finish());
  }
}
function after(work: Work): void {
  for (const [kind, input] of work) {
    const r = encodeResource(kind, input);
    if (typeof r === 'string') throw new Error(r);
  }
}
function strictOnly(work: Work): void {
  for (const [kind, input] of work) if (strictProblem(messageType(RESOURCE_TYPES[kind].message), input.message)) throw new Error('invalid');
}
function validatorsOnly(work: Work): void {
  for (const [kind, input] of work) (RESOURCE_TYPES[kind].validate as (m: unknown) => string[])(input.message);
}

function measure(title: string, work: Work, rounds: number, block: number): void {
  const variants: Record<string, (w: Work) => void> = {
    'before: fromObject + verify + encode': before,
    'after: encodeResource (strict + validators + encode)': after,
    'strict walk alone': strictOnly,
    'kind validators alone': validatorsOnly,
  };
  const samples = new Map<string, number[]>(Object.keys(variants).map((k) => [k, []]));
  for (let round = 0; round < rounds + 2; round++) {
    for (const [name, run] of Object.entries(variants)) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < block; i++) run(work);
      const us = Number(process.hrtime.bigint() - t0) / 1000 / block;
      if (round >= 2) samples.get(name)!.push(us); // the first rounds warm the JIT
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const base = median(samples.get('before: fromObject + verify + encode')!);
  process.stdout.write(`${title}: median of ${rounds} blocks of ${block}\n`);
  for (const [name, xs] of samples) {
    const m = median(xs);
    const text = m >= 10_000 ? `${(m / 1000).toFixed(1)} ms` : `${m.toFixed(0)} µs`;
    process.stdout.write(`  ${name.padEnd(56)} ${text.padStart(9)}  ${(m / base).toFixed(2)}× before\n`);
  }
}

const cla = translateEndpoints(service(1, ENDPOINTS), view);
measure(`one ClusterLoadAssignment of ${ENDPOINTS} endpoints`, [['endpoint', cla]], 30, 20);

const full: Array<readonly [ResourceKind, ResourceInput]> = [];
for (const u of translateMesh(meshOf(Array.from({ length: SERVICES }, (_, i) => service(i, 10))), view)) for (const r of u.upsert ?? []) full.push([u.kind, r]);
measure(`a full view: ${full.length} resources (${SERVICES} services × 10 endpoints)`, full, 10, 2);
