import { isIP } from 'node:net';

/**
 * Small validation helpers that produce path-prefixed errors (`services[0].endpoints[1].port: ...`). They
 * collect every problem instead of stopping at the first, so a broken file is reported whole.
 */
export class Problems {
  readonly list: string[] = [];
  add(path: string, message: string): void {
    this.list.push(`${path}: ${message}`);
  }
  get ok(): boolean {
    return this.list.length === 0;
  }
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reports keys of `obj` not in `allowed` (catches typos like `adress`). */
export function noUnknownKeys(obj: Record<string, unknown>, allowed: readonly string[], path: string, p: Problems): void {
  for (const k of Object.keys(obj)) if (!allowed.includes(k)) p.add(`${path}.${k}`, `unknown field (expected one of ${allowed.join(', ')})`);
}

export function str(obj: Record<string, unknown>, key: string, path: string, p: Problems, fallback?: string): string {
  const v = obj[key];
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== 'string' || v === '') {
    p.add(`${path}.${key}`, 'must be a non-empty string');
    return fallback ?? '';
  }
  return v;
}

export function int(obj: Record<string, unknown>, key: string, path: string, p: Problems, min: number, max: number, fallback?: number): number {
  const v = obj[key];
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    p.add(`${path}.${key}`, `must be an integer from ${min} to ${max}`);
    return fallback ?? min;
  }
  return v;
}

export function bool(obj: Record<string, unknown>, key: string, path: string, p: Problems, fallback: boolean): boolean {
  const v = obj[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') {
    p.add(`${path}.${key}`, 'must be true or false');
    return fallback;
  }
  return v;
}

/** An IPv4 or IPv6 literal (no host names: endpoints are addresses). */
export function isIpLiteral(s: string): boolean {
  return isIP(s) !== 0;
}
