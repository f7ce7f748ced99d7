/**
 * A view is what makes two proxies' configuration differ: the proxy flavour (a sidecar Envoy or a proxyless
 * gRPC client), its zone (for zone-aware endpoints) and where its egress listener binds. Proxies with equal
 * views share one set of encoded resources. The key is the view's canonical string form.
 */
export type Flavor = 'envoy' | 'grpc';

export interface ProxyView {
  readonly flavor: Flavor;
  readonly zone: string;
  /** host:port of the egress listener (envoy flavour only; '' for grpc). */
  readonly egress: string;
}

export function viewKey(v: ProxyView): string {
  return [v.flavor, v.zone, v.egress].join('|');
}

export function parseViewKey(key: string): ProxyView {
  const [flavor, zone = '', egress = ''] = key.split('|');
  if (flavor !== 'envoy' && flavor !== 'grpc') throw new Error(`bad view key ${JSON.stringify(key)}`);
  return { flavor, zone, egress };
}
