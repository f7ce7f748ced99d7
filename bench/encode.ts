/**
 * What the strict checks cost on the endpoint fast path: one 1,000-endpoint ClusterLoadAssignment (pod-like
 * endpoints with a `pod` label, three zones), encoded the way Herald encoded it before the strict walk
 * (`fromObject` → `verify` → `encode`) and the way `encodeResource` does now (name check → strict walk →
 * assignmentProblems → `fromObject` → `encode`), plus each check alone. Prints the median µs per encode over
 * blocks of runs, alternating the variants block by block so machine noise hits all of them. `node dist/bench/encode.js [--endpoints 1000]`.
 */
import { translateEndpoints } from '../src/translate/endpoints';
import { parseViewKey } from '../src/translate/view';
import { encodeResource } from '../src/xds/encode';
import { messageType } from '../src/xds/protos';
import { RESOURCE_TYPES } from '../src/xds/resource-types';
import { strictProblem } from '../src/xds/strict';
import { assignmentProblems } from '../src/xds/validators';
import { encodeAny } from '../src/xds/wire';
import { service } from './common';

const arg = process.argv.indexOf('--endpoints');
const N = arg > 0 ? Number(process.argv[arg + 1]) : 1000;
const ROUNDS = 600;

const input = translateEndpoints(service(1, N), parseViewKey('envoy|zone-a|127.0.0.1:15001'));
const type = messageType(RESOURCE_TYPES.endpoint.message);
const decoded = type.fromObject(input.message);

const variants: Record<string, () => unknown> = {
  'before: fromObject + verify + encode': () => {
    const msg = type.fromObject(input.message);
    if (type.verify(msg)) throw new Error('invalid');
    return encodeAny(RESOURCE_TYPES.endpoint.typeUrl, type.encode(msg).finish());
  },
  'after: encodeResource (strict + validators + encode)': () => {
    const r = encodeResource('endpoint', input);
    if (typeof r === 'string') throw new Error(r);
    return r;
  },
  'fromObject + encode, no checks': () => encodeAny(RESOURCE_TYPES.endpoint.typeUrl, type.encode(type.fromObject(input.message)).finish()),
  'strict walk alone': () => strictProblem(type, input.message),
  'assignmentProblems alone': () => assignmentProblems(input.message),
  'verify alone (no longer run)': () => type.verify(decoded),
};

// Blocks of BLOCK runs per variant, variants alternating block by block: each block's time includes the garbage
// collection its own allocations cause, and machine noise hits every variant alike.
const BLOCK = 20;
const samples = new Map<string, number[]>(Object.keys(variants).map((k) => [k, []]));
for (let round = 0; round < ROUNDS / BLOCK + 3; round++) {
  for (const [name, run] of Object.entries(variants)) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < BLOCK; i++) run();
    const us = Number(process.hrtime.bigint() - t0) / 1000 / BLOCK;
    if (round >= 3) samples.get(name)!.push(us); // the first rounds warm the JIT
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const before = median(samples.get('before: fromObject + verify + encode')!);
process.stdout.write(`ClusterLoadAssignment of ${N} endpoints: µs per encode, median of ${ROUNDS / BLOCK} blocks of ${BLOCK}\n`);
for (const [name, xs] of samples) {
  const m = median(xs);
  process.stdout.write(`  ${name.padEnd(56)} ${m.toFixed(0).padStart(6)} µs  ${(m / before).toFixed(2)}× before\n`);
}
