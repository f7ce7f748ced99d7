/**
 * Herald's configuration file (herald.yaml): one schema, validated once, defaults in one place. Paths in it are
 * relative to the file's directory.
 *
 *   xds:     { address: 127.0.0.1, port: 18000 }
 *   admin:   { address: 127.0.0.1, port: 18001 }
 *   sidecar: { egress: { address: 127.0.0.1, port: 15001 } }
 *   sources:
 *     - { kind: file, name: file, path: services.yaml }
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { Problems, int, isObject, noUnknownKeys, str } from './validate';

export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

export interface FileSourceConfig {
  readonly kind: 'file';
  readonly name: string;
  readonly path: string;
}

export type SourceConfig = FileSourceConfig;

export interface HeraldConfig {
  readonly xds: Endpoint;
  readonly admin: Endpoint;
  readonly sidecar: { readonly egress: Endpoint };
  readonly sources: readonly SourceConfig[];
  /** Log a response that has waited this long for its ACK. */
  readonly ackTimeoutMs: number;
}

export const DEFAULTS = {
  xds: { address: '127.0.0.1', port: 18000 },
  admin: { address: '127.0.0.1', port: 18001 },
  egress: { address: '127.0.0.1', port: 15001 },
  ackTimeoutMs: 30_000,
} as const;

function endpoint(raw: unknown, pathName: string, p: Problems, fallback: Endpoint): Endpoint {
  if (raw === undefined) return fallback;
  if (!isObject(raw)) {
    p.add(pathName, 'must be a mapping with address and port');
    return fallback;
  }
  noUnknownKeys(raw, ['address', 'port'], pathName, p);
  return { address: str(raw, 'address', pathName, p, fallback.address), port: int(raw, 'port', pathName, p, 0, 65535, fallback.port) };
}

/** Parses and validates a config document. `baseDir` anchors relative paths. Throws one Error listing every problem. */
export function parseConfig(text: string, baseDir: string): HeraldConfig {
  let doc: unknown;
  try {
    doc = parseYaml(text) ?? {};
  } catch (err) {
    throw new Error(`config: yaml: ${(err as Error).message}`);
  }
  const p = new Problems();
  if (!isObject(doc)) throw new Error('config: (root): must be a mapping');
  noUnknownKeys(doc, ['xds', 'admin', 'sidecar', 'sources', 'ackTimeoutMs'], '(root)', p);
  const xds = endpoint(doc.xds, 'xds', p, DEFAULTS.xds);
  const admin = endpoint(doc.admin, 'admin', p, DEFAULTS.admin);
  let egress: Endpoint = DEFAULTS.egress;
  if (doc.sidecar !== undefined) {
    if (!isObject(doc.sidecar)) p.add('sidecar', 'must be a mapping');
    else {
      noUnknownKeys(doc.sidecar, ['egress'], 'sidecar', p);
      egress = endpoint(doc.sidecar.egress, 'sidecar.egress', p, DEFAULTS.egress);
    }
  }
  const sources: SourceConfig[] = [];
  const rawSources = doc.sources ?? [];
  if (!Array.isArray(rawSources)) p.add('sources', 'must be a list');
  else
    rawSources.forEach((s, i) => {
      const sp = `sources[${i}]`;
      if (!isObject(s)) return p.add(sp, 'must be a mapping');
      const kind = str(s, 'kind', sp, p);
      if (kind !== 'file') return p.add(`${sp}.kind`, 'must be one of: file');
      noUnknownKeys(s, ['kind', 'name', 'path'], sp, p);
      const name = str(s, 'name', sp, p, `file-${i}`);
      if (sources.some((x) => x.name === name)) p.add(`${sp}.name`, `duplicate source name ${JSON.stringify(name)}`);
      sources.push({ kind: 'file', name, path: path.resolve(baseDir, str(s, 'path', sp, p)) });
    });
  if (sources.length === 0 && p.ok) p.add('sources', 'at least one source is required');
  const ackTimeoutMs = int(doc, 'ackTimeoutMs', '(root)', p, 1000, 3_600_000, DEFAULTS.ackTimeoutMs);
  if (!p.ok) throw new Error(`config has ${p.list.length} problem(s):\n  ${p.list.join('\n  ')}`);
  return { xds, admin, sidecar: { egress }, sources, ackTimeoutMs };
}

export function loadConfig(file: string): HeraldConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`config: cannot read ${file}: ${(err as Error).message}`);
  }
  return parseConfig(text, path.dirname(path.resolve(file)));
}
