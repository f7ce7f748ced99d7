/**
 * The strict check that runs before protobufjs `fromObject`: a plain object is refused unless every key and
 * value in it would reach the wire as written. `fromObject` silently drops keys it does not know (a misspelled
 * `conectTimeout`, `consecutive5xx` for `consecutive_5xx`, a oneof's virtual name), enum names it does not know,
 * and the fields of an Any whose `@type` is not in the schema; it silently coerces scalars (`'http' >>> 0` is a
 * port 0). `verify()` afterwards sees only what survived, so none of that is ever reported. This walk mirrors
 * the converter of protobufjs 8 (src/converter.js, src/wrappers.js) against the Type reflection, including
 * nested messages, repeated fields, maps, oneofs and Any with `@type`, and names the path of the first problem:
 *
 *   outlierDetection.consecutive5xx: unknown field (envoy.config.cluster.v3.OutlierDetection)
 *
 * What it accepts is a subset of what `fromObject` accepts: `null`/`undefined` mean absent (as there); numbers
 * must be numbers of the field's range (64-bit: a safe integer, a decimal string or a Long), strings strings,
 * booleans booleans, bytes a Uint8Array or base64 text, enums a known name or number. Nesting is bounded
 * (`MAX_DEPTH`), so a cyclic object fails here instead of overflowing the stack.
 *
 * Cost: per Type a plan (field table, oneof bits, links to the plans of nested types) is built once and kept;
 * the walk allocates nothing unless it fails (the path is assembled while unwinding).
 */
import * as protobuf from 'protobufjs';

/** Deeper than any Envoy resource Herald builds (about 12), far below protobufjs' own recursion limit. */
export const MAX_DEPTH = 64;

type Scalar = 'double' | 'float' | 'int32' | 'uint32' | 'sint32' | 'fixed32' | 'sfixed32' | 'int64' | 'uint64' | 'sint64' | 'fixed64' | 'sfixed64' | 'bool' | 'string' | 'bytes';

interface FieldPlan {
  readonly repeated: boolean;
  readonly map: boolean;
  /** For maps: the key's scalar type. */
  readonly keyType: string | undefined;
  /** The value's message type, when it is one; its plan is linked on first use (types may be recursive). */
  readonly messageType: protobuf.Type | undefined;
  plan: Plan | undefined;
  /** The value's enum, when it is one. */
  readonly enumType: protobuf.Enum | undefined;
  readonly scalar: Scalar | undefined;
  /** Bit of the field's oneof among its message's oneofs with more than one member; 0 when none. */
  readonly oneofBit: number;
}

interface Plan {
  readonly type: protobuf.Type;
  readonly fullName: string;
  readonly fields: Readonly<Record<string, FieldPlan>>;
  readonly isAny: boolean;
}

/** A failure while unwinding: `path` is built from the innermost segment outwards. */
interface Failure {
  path: string[];
  readonly message: string;
}

const plans = new WeakMap<protobuf.Type, Plan>();

function planOf(type: protobuf.Type): Plan {
  let plan = plans.get(type);
  if (plan) return plan;
  // proto3 `optional` makes one-member oneofs, which need no check; Envoy messages have far fewer than 31.
  const oneofs = type.oneofsArray.filter((o) => o.oneof.length > 1);
  if (oneofs.length > 30) throw new Error(`${type.fullName}: more oneofs than the strict check handles`);
  const fields: Record<string, FieldPlan> = Object.create(null);
  for (const f of type.fieldsArray) {
    f.resolve();
    const resolved = f.resolvedType;
    const oneof = oneofs.findIndex((o) => o.oneof.includes(f.name));
    fields[f.name] = {
      repeated: f.repeated,
      map: f.map,
      keyType: f instanceof protobuf.MapField ? f.keyType : undefined,
      messageType: resolved instanceof protobuf.Type ? resolved : undefined,
      plan: undefined,
      enumType: resolved instanceof protobuf.Enum ? resolved : undefined,
      scalar: resolved ? undefined : (f.type as Scalar),
      oneofBit: oneof < 0 ? 0 : 1 << oneof,
    };
  }
  plan = { type, fullName: type.fullName.replace(/^\./, ''), fields, isAny: type.fullName === '.google.protobuf.Any' };
  plans.set(type, plan);
  return plan;
}

function fail(message: string, segment?: string): Failure {
  return { path: segment === undefined ? [] : [segment], message };
}

function within(f: Failure, segment: string): Failure {
  f.path.push(segment);
  return f;
}

/** `s` quoted, cut at 100 characters: a hostile value never makes a huge log line. */
function quote(s: string): string {
  return JSON.stringify(s.length > 100 ? `${s.slice(0, 100)}…` : s);
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return 'an array';
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === 'object') {
    const proto = Object.getPrototypeOf(v);
    return proto === Object.prototype || proto === null ? 'an object' : `a ${(v as object).constructor?.name ?? 'class'} instance`;
  }
  return `${typeof v} ${String(v)}`;
}

/** An object literal (or a null-prototype object): what `fromObject` reads field by field. */
function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

const INT_RANGE: Partial<Record<Scalar, readonly [number, number]>> = {
  int32: [-0x80000000, 0x7fffffff],
  sint32: [-0x80000000, 0x7fffffff],
  sfixed32: [-0x80000000, 0x7fffffff],
  uint32: [0, 0xffffffff],
  fixed32: [0, 0xffffffff],
};

function scalarProblem(type: Scalar, v: unknown): string | undefined {
  switch (type) {
    case 'string':
      return typeof v === 'string' ? undefined : `string expected, got ${describe(v)}`;
    case 'bool':
      return typeof v === 'boolean' ? undefined : `boolean expected, got ${describe(v)}`;
    case 'double':
    case 'float':
      return typeof v === 'number' ? undefined : `number expected, got ${describe(v)}`;
    case 'bytes':
      return v instanceof Uint8Array || (typeof v === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(v)) ? undefined : `bytes (Uint8Array or base64) expected, got ${describe(v)}`;
    case 'int64':
    case 'sint64':
    case 'sfixed64':
    case 'uint64':
    case 'fixed64': {
      const unsigned = type === 'uint64' || type === 'fixed64';
      if (typeof v === 'number' && Number.isSafeInteger(v) && (!unsigned || v >= 0)) return undefined;
      if (typeof v === 'string' && (unsigned ? /^\d{1,20}$/ : /^-?\d{1,19}$/).test(v)) return undefined;
      if (typeof v === 'object' && v !== null && typeof (v as { low?: unknown }).low === 'number' && typeof (v as { high?: unknown }).high === 'number') return undefined; // a Long
      return `${type} expected (a safe integer, a decimal string or a Long), got ${describe(v)}`;
    }
    default: {
      const range = INT_RANGE[type];
      if (!range) return `unsupported scalar type ${type}`;
      if (typeof v === 'number' && Number.isInteger(v) && v >= range[0] && v <= range[1]) return undefined;
      return `${type} expected, got ${describe(v)}`;
    }
  }
}

function mapKeyProblem(keyType: string, key: string): string | undefined {
  if (keyType === 'string') return undefined;
  if (keyType === 'bool') return key === 'true' || key === 'false' ? undefined : `map key must be true or false`;
  return /^-?\d+$/.test(key) ? undefined : `map key must be an integer (${keyType})`;
}

function checkValue(fp: FieldPlan, v: unknown, depth: number): Failure | undefined {
  if (fp.messageType) return checkMessage((fp.plan ??= planOf(fp.messageType)), v, depth + 1);
  if (fp.enumType) {
    const e = fp.enumType;
    if (typeof v === 'string') return Object.prototype.hasOwnProperty.call(e.values, v) ? undefined : fail(`unknown enum value ${quote(v)} (${e.fullName.replace(/^\./, '')})`);
    if (typeof v === 'number') return Object.prototype.hasOwnProperty.call(e.valuesById, v) ? undefined : fail(`unknown enum number ${v} (${e.fullName.replace(/^\./, '')})`);
    return fail(`enum name or number expected, got ${describe(v)}`);
  }
  const problem = scalarProblem(fp.scalar!, v);
  return problem === undefined ? undefined : fail(problem);
}

function checkField(fp: FieldPlan, v: unknown, depth: number): Failure | undefined {
  if (fp.map) {
    if (!isPlainObject(v)) return fail(`object (a map) expected, got ${describe(v)}`);
    for (const k in v) {
      const kp = mapKeyProblem(fp.keyType!, k);
      if (kp) return fail(kp, `[${k}]`);
      const x = v[k];
      if (x === null || x === undefined) return fail(`map value expected, got ${describe(x)}`, `[${k}]`);
      const f = checkValue(fp, x, depth);
      if (f) return within(f, `[${k}]`);
    }
    return undefined;
  }
  if (fp.repeated) {
    if (!Array.isArray(v)) return fail(`array expected, got ${describe(v)}`);
    for (let i = 0; i < v.length; i++) {
      const x: unknown = v[i];
      if (x === null || x === undefined) return fail(`element expected, got ${describe(x)}`, `[${i}]`);
      const f = checkValue(fp, x, depth);
      if (f) return within(f, `[${i}]`);
    }
    return undefined;
  }
  return checkValue(fp, v, depth);
}

function checkAny(any: Plan, obj: Record<string, unknown>, depth: number): Failure | undefined {
  const url = obj['@type'];
  // protobufjs takes the `@type` route only for a non-empty value; otherwise the object is a plain Any.
  if (url === undefined || url === null || url === '') return checkFields(any, obj, depth, '@type');
  if (typeof url !== 'string') return fail(`string expected, got ${describe(url)}`, '@type');
  if (!url.includes('/')) return fail(`type URL ${quote(url)} has no "/" (type.googleapis.com/<message>)`, '@type');
  const name = url.slice(url.lastIndexOf('/') + 1);
  // protobufjs resolves the name from the Any type's namespace outwards; every name in a type URL is fully
  // qualified, so looking it up from the root finds the same type.
  const inner = any.type.root.lookup(name);
  if (!(inner instanceof protobuf.Type)) return fail(`unknown type ${quote(name)}: not in the loaded schema, so protobufjs would send an empty Any`, '@type');
  const plan = planOf(inner);
  return plan.isAny ? fail('an Any inside an Any is not supported', '@type') : checkFields(plan, obj, depth, '@type');
}

function checkMessage(plan: Plan, v: unknown, depth: number): Failure | undefined {
  if (depth > MAX_DEPTH) return fail(`nested deeper than ${MAX_DEPTH} messages (a cycle?)`);
  if (!isPlainObject(v)) return fail(`plain object expected (${plan.fullName}), got ${describe(v)}`);
  if (plan.isAny) return checkAny(plan, v, depth);
  return checkFields(plan, v, depth);
}

function checkFields(plan: Plan, obj: Record<string, unknown>, depth: number, skip?: string): Failure | undefined {
  const fields = plan.fields;
  let oneofsSet = 0;
  for (const key in obj) {
    if (key === skip) continue;
    const fp = fields[key];
    if (fp === undefined) return fail(`unknown field (${plan.fullName})`, key);
    const v = obj[key];
    if (v === null || v === undefined) continue;
    if (fp.oneofBit !== 0) {
      if ((oneofsSet & fp.oneofBit) !== 0) return fail(`oneof: ${oneofPartner(plan, obj, key, fp.oneofBit)} and ${key} are both set (${plan.fullName})`, key);
      oneofsSet |= fp.oneofBit;
    }
    const f = checkField(fp, v, depth);
    if (f) return within(f, key);
  }
  return undefined;
}

/** The member of `key`'s oneof set before it (for the message only). */
function oneofPartner(plan: Plan, obj: Record<string, unknown>, key: string, bit: number): string {
  for (const k in obj) if (k !== key && plan.fields[k]?.oneofBit === bit && obj[k] !== null && obj[k] !== undefined) return k;
  return '?';
}

function joinPath(segments: readonly string[]): string {
  let out = '';
  for (let i = segments.length - 1; i >= 0; i--) {
    const s = segments[i]!;
    out += s.startsWith('[') || out === '' ? s : `.${s}`;
  }
  return out;
}

/**
 * Why `value` is not exactly what `type.fromObject` would encode, as `path: problem` (path relative to the
 * message, e.g. `endpoints[0].lbEndpoints[2].healthStatus: unknown enum value "DRAINED" (…)`), or undefined
 * when every key and value would be encoded as written. Never throws.
 */
export function strictProblem(type: protobuf.Type, value: unknown): string | undefined {
  const f = checkMessage(planOf(type), value, 0);
  if (!f) return undefined;
  const path = joinPath(f.path);
  return path ? `${path}: ${f.message}` : f.message;
}
