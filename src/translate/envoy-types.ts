/** Small builders for recurring Envoy message shapes in protobufjs `fromObject` form. */

/**
 * A ConfigSource over ADS for what a resource depends on (a cluster's endpoints, a listener's routes), with
 * `initial_fetch_timeout: 0`: Envoy waits for them instead of giving up after its default 15 s, so its /ready
 * means "configured", and a warming cluster or listener never goes live half-configured.
 */
export const ADS_SOURCE = { ads: {}, resourceApiVersion: 'V3', initialFetchTimeout: { seconds: 0, nanos: 0 } } as const;

export function duration(ms: number): { seconds: number; nanos: number } {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
}

export function typed(typeName: string, fields: Record<string, unknown>): Record<string, unknown> {
  return { '@type': `type.googleapis.com/${typeName}`, ...fields };
}

export function socketAddress(address: string, port: number): Record<string, unknown> {
  return { socketAddress: { address, portValue: port } };
}

/** google.protobuf.Struct with string values (protobufjs has no Struct wrapper for fromObject). */
export function stringStruct(values: Readonly<Record<string, string>>): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (const k of Object.keys(values).sort()) fields[k] = { stringValue: values[k] };
  return { fields };
}

export const ROUTER_FILTER = {
  name: 'envoy.filters.http.router',
  typedConfig: typed('envoy.extensions.filters.http.router.v3.Router', {}),
};

export const HCM_TYPE = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
