/**
 * Loads Envoy's v3 API from the .proto files shipped inside the pinned npm package @grpc/grpc-js-xds.
 * Nothing generated is committed: the schema is read at start-up (about a few hundred ms) and shared.
 *
 * Contract: `envoyRoot()` returns one process-wide protobufjs Root; callers must not mutate it.
 */
import * as path from 'node:path';
import * as fs from 'node:fs';
import * as protobuf from 'protobufjs';

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
  'envoy/config/bootstrap/v3/bootstrap.proto',
] as const;

function includeDirs(): string[] {
  const pkg = path.dirname(require.resolve('@grpc/grpc-js-xds/package.json'));
  const deps = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => path.join(pkg, 'deps', d));
  // protobufjs ships google/protobuf/descriptor.proto; the other well-known types it has built in.
  return [...deps, path.dirname(require.resolve('protobufjs/package.json'))];
}

let root: protobuf.Root | undefined;

export function envoyRoot(): protobuf.Root {
  if (root) return root;
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
  root = r;
  return r;
}

/** Looks up a message type by its fully qualified name, failing loudly if the schema lacks it. */
export function messageType(fullName: string): protobuf.Type {
  return envoyRoot().lookupType(fullName);
}
