/**
 * Herald's one schema library is zod: every input document (herald.yaml, the policy file, `herald.io/`
 * annotations, lab scenarios) is a zod schema, and its TypeScript type is derived from it (`z.output`), never
 * written twice. This module is the glue every schema shares:
 *
 * - field builders whose every failure has one plain message (`must be an integer from 0 to 100`), so an error
 *   says what is allowed instead of zod's generic text;
 * - `strict`: an object that refuses unknown keys (a typo like `adress` must not vanish) and names the allowed ones;
 * - `problemsOf`: the one formatter from zod issues to Herald's path-prefixed problem lines
 *   (`sources[0].guard.maxRemovalPercent: must be an integer from 0 to 100`);
 * - `parseKeepingValid`: a parse that reports every problem and keeps the valid fields (for inputs where a bad
 *   field must not discard the good ones, such as pod annotations).
 *
 * Pure; no I/O. Nothing here keeps state.
 */
import { z } from 'zod';

/** T with every nested object and array readonly: parsed documents are handed along, never changed. */
export type DeepReadonly<T> = T extends readonly (infer E)[]
  ? readonly DeepReadonly<E>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

// ---------------------------------------------------------------------------------------------------------
// Field builders: one message for every way a value can be wrong.

export const intIn = (min: number, max: number, message = `must be an integer from ${min} to ${max}`) =>
  z.int({ error: message }).min(min, { error: message }).max(max, { error: message });

export const numberIn = (min: number, max: number, message = `must be a number from ${min} to ${max}`) =>
  z.number({ error: message }).min(min, { error: message }).max(max, { error: message });

export const nonEmptyString = (message = 'must be a non-empty string') => z.string({ error: message }).min(1, { error: message });

export const bool = (message = 'must be true or false') => z.boolean({ error: message });

export const oneOf = <const T extends readonly [string, ...string[]]>(values: T, message = `must be one of ${values.join(', ')}`) =>
  z.enum(values, { error: message });

/**
 * A mapping with exactly these keys (each may still be optional): an unknown key is a problem
 * `<path>.<key>: unknown <what> (expected one of <keys>)`; a value that is no mapping is `<path>: <notMapping>`.
 */
export function strict<S extends z.core.$ZodLooseShape>(shape: S, o: { what?: string; notMapping?: string } = {}) {
  const unknown = `unknown ${o.what ?? 'field'} (expected one of ${Object.keys(shape).join(', ')})`;
  const notMapping = o.notMapping ?? 'must be a mapping';
  return z.strictObject(shape, { error: (iss) => (iss.code === 'unrecognized_keys' ? unknown : iss.code === 'invalid_type' ? notMapping : undefined) });
}

// ---------------------------------------------------------------------------------------------------------
// The formatter.

export type Path = readonly PropertyKey[];

/**
 * A path as Herald writes it: keys joined by dots, list indices in brackets, after `prefix`
 * (`sources[0].guard`); the empty path with no prefix is `(root)`.
 */
export function pathText(path: Path, prefix = ''): string {
  let out = prefix;
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out === '' ? String(seg) : `.${String(seg)}`;
  return out === '' ? '(root)' : out;
}

export interface FormatOptions {
  /** Written before every path (`services[web].policy`). */
  readonly prefix?: string;
  /** Renders a path instead of pathText (e.g. map keys in brackets: `services[web]`). */
  readonly at?: (path: Path) => string;
}

/**
 * Zod issues as Herald's problem lines, `<path>: <message>`: one line per unknown key, a record key's own message
 * for a bad key, duplicates dropped. Shallow problems come first (stable otherwise): a misplaced block explains
 * the problems inside it.
 */
export function problemsOf(issues: readonly z.core.$ZodIssue[], o: FormatOptions = {}): string[] {
  const at = o.at ?? ((p: Path) => pathText(p, o.prefix));
  const lines: { depth: number; text: string }[] = [];
  const add = (path: Path, message: string) => lines.push({ depth: path.length, text: `${at(path)}: ${message}` });
  for (const iss of issues) {
    if (iss.code === 'unrecognized_keys') for (const k of iss.keys) add([...iss.path, k], iss.message);
    else if (iss.code === 'invalid_key') add(iss.path, iss.issues[0]?.message ?? iss.message);
    else add(iss.path, iss.message);
  }
  lines.sort((a, b) => a.depth - b.depth);
  return [...new Set(lines.map((l) => l.text))];
}

// ---------------------------------------------------------------------------------------------------------
// Parsing that keeps the valid part.

function deletePath(doc: unknown, path: Path): boolean {
  if (path.length === 0) return false;
  let node: unknown = doc;
  for (const seg of path.slice(0, -1)) {
    if (typeof node !== 'object' || node === null) return true;
    node = (node as Record<PropertyKey, unknown>)[seg];
  }
  if (typeof node !== 'object' || node === null) return true;
  if (Array.isArray(node)) return false; // removing a list item would shift the paths of the others
  delete (node as Record<PropertyKey, unknown>)[path[path.length - 1]!];
  return true;
}

/**
 * Parses `raw`; on problems, drops each offending field (and each unknown key) and parses again, so `value` holds
 * every valid field and `issues` every problem of the original. `value` is undefined only when nothing valid is
 * left to keep (the document itself is wrong). Never throws; `raw` is not changed.
 */
export function parseKeepingValid<S extends z.ZodType>(schema: S, raw: unknown): { value: z.output<S> | undefined; issues: z.core.$ZodIssue[] } {
  const first = schema.safeParse(raw);
  if (first.success) return { value: first.data, issues: [] };
  const issues = first.error.issues;
  let doc = structuredClone(raw);
  let pending: readonly z.core.$ZodIssue[] = issues;
  for (let round = 0; round < 4; round++) {
    for (const iss of pending) {
      const ok = iss.code === 'unrecognized_keys' ? iss.keys.every((k) => deletePath(doc, [...iss.path, k])) : deletePath(doc, iss.path);
      if (!ok) return { value: undefined, issues };
    }
    const again = schema.safeParse(doc);
    if (again.success) return { value: again.data, issues };
    pending = again.error.issues;
    doc = structuredClone(doc);
  }
  return { value: undefined, issues };
}
