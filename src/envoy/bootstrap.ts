/**
 * Envoy bootstrap for a Herald-managed proxy: ADS (SotW or Delta) to Herald over gRPC, node identity and
 * locality, admin on loopback, and `initial_fetch_timeout: 0` on CDS and LDS so /ready turns 200 only once Envoy
 * is connected to Herald and configured.
 */
export interface BootstrapOptions {
  readonly nodeId: string;
  readonly cluster: string;
  readonly zone?: string;
  readonly region?: string;
  /** Herald's xDS address. */
  readonly xdsAddress: string;
  readonly xdsPort: number;
  readonly protocol: 'sotw' | 'delta';
  readonly adminAddress?: string;
  readonly adminPort: number;
  /** Where this proxy's egress listener binds (sent to Herald as node metadata HERALD_EGRESS). */
  readonly egress?: string;
  /** 0 waits forever for the first config (the default here); Envoy's own default is 15 s. */
  readonly initialFetchTimeoutMs?: number;
}

export function envoyBootstrap(o: BootstrapOptions): Record<string, unknown> {
  const fetchTimeout = `${(o.initialFetchTimeoutMs ?? 0) / 1000}s`;
  const ads = { ads: {}, resource_api_version: 'V3', initial_fetch_timeout: fetchTimeout };
  const metadata: Record<string, string> = {};
  if (o.egress) metadata.HERALD_EGRESS = o.egress;
  return {
    node: {
      id: o.nodeId,
      cluster: o.cluster,
      locality: { ...(o.region ? { region: o.region } : {}), ...(o.zone ? { zone: o.zone } : {}) },
      metadata,
    },
    admin: { address: { socket_address: { address: o.adminAddress ?? '127.0.0.1', port_value: o.adminPort } } },
    dynamic_resources: {
      ads_config: {
        api_type: o.protocol === 'delta' ? 'DELTA_GRPC' : 'GRPC',
        transport_api_version: 'V3',
        grpc_services: [{ envoy_grpc: { cluster_name: 'herald_xds' } }],
        set_node_on_first_message_only: true,
      },
      cds_config: ads,
      lds_config: ads,
    },
    static_resources: {
      clusters: [
        {
          name: 'herald_xds',
          type: 'STATIC',
          connect_timeout: '1s',
          typed_extension_protocol_options: {
            'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
              '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
              explicit_http_config: { http2_protocol_options: { connection_keepalive: { interval: '10s', timeout: '5s' } } },
            },
          },
          load_assignment: {
            cluster_name: 'herald_xds',
            endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: o.xdsAddress, port_value: o.xdsPort } } } }] }],
          },
        },
      ],
    },
  };
}
