import { isIP } from 'node:net';

/**
 * IP literal helpers shared by every source (isIpLiteral, ipLiteralProblem, canonicalIp), and the older
 * hand-rolled helpers (Problems, isObject, str, int, noUnknownKeys) that produce path-prefixed errors
 * (`services[0].endpoints[1].port: ...`). Herald's documents are zod schemas (config/schema.ts); the hand-rolled
 * helpers remain only for the services file (sources/file/services-file.ts) until it moves to a schema too.
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

/**
 * An IPv4 or IPv6 literal (no host names: endpoints are addresses). An IPv6 zone id (`fe80::1%eth0`) is refused:
 * it names an interface of the machine that wrote it, means nothing to a proxy elsewhere, and is not a valid URL
 * host. `ipLiteralProblem` says why a text is refused.
 */
export function isIpLiteral(s: string): boolean {
  return ipLiteralProblem(s) === undefined;
}

/** Why `s` is not an IP literal Herald accepts, or undefined when it is one. */
export function ipLiteralProblem(s: string): string | undefined {
  if (s.includes('%')) return 'an IPv6 zone id (%...) is not allowed';
  return isIP(s) !== 0 ? undefined : 'is not an IPv4 or IPv6 address';
}

/**
 * The canonical text of an IP literal (IPv6 lower-case and compressed: `2001:DB8:0::1` → `2001:db8::1`), so two
 * sources naming one address agree on its key. Callers check isIpLiteral first.
 */
export function canonicalIp(s: string): string {
  return isIP(s) === 6 ? new URL(`http://[${s}]/`).hostname.slice(1, -1) : s;
}
