/**
 * Envoy's v3 API from the .proto files shipped inside the pinned npm package @grpc/grpc-js-xds. Nothing generated
 * is committed. The build writes the part Herald uses as a JSON descriptor next to this file (descriptor.ts);
 * `envoyRoot()` loads that when it matches the installed packages, and parses the .proto files otherwise (a
 * tree compiled by `tsc` alone, or packages upgraded since the build): the same schema either way, only slower
 * and with more memory resident.
 *
 * Contract: `envoyRoot()` returns one process-wide protobufjs Root; callers must not mutate it.
 */
import * as path from 'node:path';
import * as fs from 'node:fs';
import * as protobuf from 'protobufjs';
import { DESCRIPTOR_FILE, currentStamp, sameStamp, type Descriptor } from './descriptor';

/** The Envoy proto files Herald serves or reads; their imports are resolved from the include dirs. */
const ENTRY_FILES = [
  'envoy/service/discovery/v3/discovery.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/health_check/v3/health_check.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
] as const;

function includeDirs(): string[] {
  const pkg = path.dirname(require.resolve('@grpc/grpc-js-xds/package.json'));
  const deps = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => path.join(pkg, 'deps', d));
  // protobufjs ships google/protobuf/descriptor.proto; the other well-known types it has built in.
  return [...deps, path.dirname(require.resolve('protobufjs/package.json'))];
}

let root: protobuf.Root | undefined;
let source: 'descriptor' | 'protos' | undefined;

export function envoyRoot(): protobuf.Root {
  if (root) return root;
  const descriptor = readDescriptor(path.join(__dirname, DESCRIPTOR_FILE));
  if (descriptor) {
    root = protobuf.Root.fromJSON(descriptor.root);
    source = 'descriptor';
  } else {
    root = parseProtos();
    source = 'protos';
  }
  return root;
}

/** Where `envoyRoot()` took the schema from (undefined before its first call). */
export function schemaSource(): 'descriptor' | 'protos' | undefined {
  return source;
}

/** The descriptor in `file` if it exists, parses and was built from the installed packages; else undefined. */
export function readDescriptor(file: string): Descriptor | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const d = JSON.parse(text) as Descriptor;
    return d && d.stamp && d.root && sameStamp(d.stamp, currentStamp()) ? d : undefined;
  } catch {
    return undefined;
  }
}

/** A fresh Root parsed from the .proto files (every type of ENTRY_FILES and their imports), resolved. */
export function parseProtos(): protobuf.Root {
  const dirs = includeDirs();
  const r = new protobuf.Root();
  r.resolvePath = (_origin: string, target: string): string | null => {
    if (path.isAbsolute(target) && fs.existsSync(target)) return target;
    for (const dir of dirs) {
      const candidate = path.join(dir, target);
      if (fs.existsSync(candidate)) return candidate;
    }
    // google/protobuf/*.proto are bundled with protobufjs; return the name so it resolves them.
    return target;
  };
  r.loadSync(ENTRY_FILES as unknown as string[], { keepCase: false });
  r.resolveAll();
  return r;
}

/** Looks up a message type by its fully qualified name, failing loudly if the schema lacks it. */
export function messageType(fullName: string): protobuf.Type {
  return envoyRoot().lookupType(fullName);
}
