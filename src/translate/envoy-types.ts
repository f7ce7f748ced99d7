/**
 * Small builders for recurring Envoy message shapes, typed by the generated Envoy types in protobufjs
 * `fromObject` form (src/xds/envoy-messages.ts).
 */
import type { Address, AnyMessages, AnyOf, ConfigSource, Duration, HttpFilter, Struct } from '../xds/envoy-messages';

/**
 * A ConfigSource over ADS for what a resource depends on (a cluster's endpoints, a listener's routes), with
 * `initial_fetch_timeout: 0`: Envoy waits for them instead of giving up after its default 15 s, so its /ready
 * means "configured", and a warming cluster or listener never goes live half-configured.
 */
export const ADS_SOURCE: ConfigSource = { ads: {}, resourceApiVersion: 'V3', initialFetchTimeout: { seconds: 0, nanos: 0 } };

export function duration(ms: number): Duration {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
}

/** A google.protobuf.Any holding message `typeName` with `fields`, typed by that message. */
export function typed<N extends keyof AnyMessages>(typeName: N, fields: AnyMessages[N]): AnyOf<N> {
  return { '@type': `type.googleapis.com/${typeName}`, ...fields } as AnyOf<N>;
}

export function socketAddress(address: string, port: number): Address {
  return { socketAddress: { address, portValue: port } };
}

/** google.protobuf.Struct with string values (protobufjs has no Struct wrapper for fromObject). */
export function stringStruct(values: Readonly<Record<string, string>>): Struct {
  const fields: Record<string, { stringValue: string }> = {};
  for (const k of Object.keys(values).sort()) fields[k] = { stringValue: values[k]! };
  return { fields };
}

export const ROUTER_FILTER: HttpFilter = {
  name: 'envoy.filters.http.router',
  typedConfig: typed('envoy.extensions.filters.http.router.v3.Router', {}),
};

export const HCM_TYPE = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
