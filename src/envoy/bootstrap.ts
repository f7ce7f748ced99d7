/**
 * Envoy bootstrap for a Herald-managed proxy: ADS (SotW or Delta) to Herald over gRPC, node identity and
 * locality, admin on loopback, and `initial_fetch_timeout: 0` on CDS and LDS so /ready turns 200 only once Envoy
 * is connected to Herald and configured.
 *
 * The node metadata carries what shapes the proxy's view in Herald (translate/view.ts NODE_META): its egress
 * address, its namespace and egress scope and, for a sidecar in front of an application, its ingress address,
 * the app's port and health path.
 *
 * With `readyPort`, a static listener on 0.0.0.0:<readyPort> answers GET /ready by asking the admin API, so a
 * kubelet probe can reach readiness while the admin API itself stays on loopback. Envoy opens listeners only
 * once initialised (with the timeouts above: connected to Herald and configured), so before that the probe's
 * connection is refused, and after it the answer is the admin's own /ready.
 */
import { isIpLiteral } from '../config/validate';
import { NODE_META } from '../translate/view';
import { NODE_NAMESPACE_META } from '../xds/identity';

/**
 * The xDS connection over TLS: Herald's certificate is verified against `caFile` (and, with `serverName`, must
 * carry it as a DNS SAN; it is also sent as SNI); with `certFile`/`keyFile` the proxy presents its own certificate
 * (mTLS). Without `sdsFile` the files are named inline: Envoy reads them when the cluster is created, so a
 * rotated proxy certificate takes effect when the sidecar restarts. With `sdsFile`, the client certificate is an
 * SDS secret read from that file (`xdsClientSecret` is its content; `herald bootstrap --tls-sds-dir` writes it),
 * whose certificate files Envoy watches (their directory, as a Secret volume swaps it) and re-reads on rotation.
 */
export interface XdsTlsBootstrap {
  readonly caFile: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  readonly serverName?: string;
  readonly sdsFile?: string;
}

/** The SDS secret name of the proxy's client certificate. */
export const XDS_CLIENT_SECRET = 'herald_xds_client';

/** The content of `sdsFile`: a DiscoveryResponse-shaped file with the client certificate as a Secret. */
export function xdsClientSecret(t: XdsTlsBootstrap): Record<string, unknown> {
  const dir = (f: string) => f.replace(/\/[^/]*$/, '') || '/';
  return {
    resources: [
      {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
        name: XDS_CLIENT_SECRET,
        tls_certificate: {
          certificate_chain: { filename: t.certFile },
          private_key: { filename: t.keyFile },
          watched_directory: { path: dir(t.certFile ?? '') },
        },
      },
    ],
  };
}

export interface BootstrapOptions {
  readonly nodeId: string;
  readonly cluster: string;
  readonly zone?: string;
  readonly region?: string;
  /** Herald's xDS address: an IP literal (STATIC) or a DNS name (LOGICAL_DNS, e.g. a Kubernetes Service). */
  readonly xdsAddress: string;
  readonly xdsPort: number;
  /**
   * More Herald instances. With any, the xDS cluster has every instance as a host, checked by TCP every 2 s and
   * never in panic, so when the instance a proxy streams from dies it reconnects to a live one; each new stream
   * picks an instance at random (RANDOM load balancing), so streams spread over instances as they reach their
   * maximum age.
   */
  readonly xdsMore?: ReadonlyArray<{ readonly address: string; readonly port: number }>;
  readonly protocol: 'sotw' | 'delta';
  readonly adminAddress?: string;
  readonly adminPort: number;
  /** Where this proxy's egress listener binds (sent to Herald as node metadata HERALD_EGRESS). */
  readonly egress?: string;
  /** Where the ingress listener binds (HERALD_INGRESS); needs `appPort`. */
  readonly ingress?: string;
  /** The local application's port (HERALD_APP_PORT). */
  readonly appPort?: number;
  /** The health-check path the ingress passes to the app (HERALD_HEALTH_PATH). */
  readonly healthPath?: string;
  /** The services it calls (HERALD_EGRESS_SCOPE, model/scope.ts syntax; e.g. the pod's `herald.io/egress`). */
  readonly egressScope?: string;
  /** Port of the static readiness listener (GET /ready → admin /ready); none when absent. */
  readonly readyPort?: number;
  /** 0 waits forever for the first config (the default here); Envoy's own default is 15 s. */
  readonly initialFetchTimeoutMs?: number;
  /**
   * The proxy's namespace (metadata HERALD_NAMESPACE): its short names mean services of this namespace; under mTLS
   * it must match the certificate.
   */
  readonly namespace?: string;
  /** xDS over TLS / mTLS; absent: plaintext. */
  readonly tls?: XdsTlsBootstrap;
  /** Reconnect backoff of the ADS stream: base and cap of the jittered exponential backoff (XDS_RETRY_DEFAULTS). */
  readonly xdsRetryBaseMs?: number;
  readonly xdsRetryMaxMs?: number;
}

/** The UpstreamTlsContext of the xDS cluster. */
export function xdsTransportSocket(t: XdsTlsBootstrap): Record<string, unknown> {
  const validation: Record<string, unknown> = { trusted_ca: { filename: t.caFile } };
  if (t.serverName) validation.match_typed_subject_alt_names = [{ san_type: 'DNS', matcher: { exact: t.serverName } }];
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
      ...(t.serverName ? { sni: t.serverName } : {}),
      common_tls_context: {
        alpn_protocols: ['h2'],
        ...(t.certFile && t.keyFile && t.sdsFile
          ? { tls_certificate_sds_secret_configs: [{ name: XDS_CLIENT_SECRET, sds_config: { path_config_source: { path: t.sdsFile }, resource_api_version: 'V3' } }] }
          : t.certFile && t.keyFile
            ? { tls_certificates: [{ certificate_chain: { filename: t.certFile }, private_key: { filename: t.keyFile } }] }
            : {}),
        validation_context: validation,
      },
    },
  };
}


/**
 * A cluster of fixed hosts: STATIC for IP literals; a DNS name is resolved by Envoy (LOGICAL_DNS for one host,
 * STRICT_DNS, every address, when there are several).
 */
function staticCluster(name: string, hosts: ReadonlyArray<{ readonly address: string; readonly port: number }>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const allIps = hosts.every((h) => isIpLiteral(h.address));
  return {
    name,
    type: allIps ? 'STATIC' : hosts.length === 1 ? 'LOGICAL_DNS' : 'STRICT_DNS',
    connect_timeout: '1s',
    ...extra,
    load_assignment: {
      cluster_name: name,
      endpoints: [{ lb_endpoints: hosts.map((h) => ({ endpoint: { address: { socket_address: { address: h.address, port_value: h.port } } } })) }],
    },
  };
}

/** Envoy's own backoff for re-establishing the ADS stream (without retry_policy): 500 ms base, 30 s max. */
export const XDS_RETRY_DEFAULTS = { baseMs: 100, maxMs: 1000 } as const;

/**
 * The ADS stream's reconnect backoff (EnvoyGrpc.retry_policy, applied to xDS streams only): Envoy waits a random
 * time below min(base·2^attempt, max) before each new attempt, and starts from base again once a stream
 * delivered a response. Envoy's default max of 30 s would leave a proxy of a killed replica without a control
 * plane for up to that long; 1 s bounds it, and each attempt goes through the xDS cluster's load balancer, so a
 * refused connect to a dead instance is followed by one to a live instance.
 */
function xdsRetryPolicy(o: BootstrapOptions): Record<string, unknown> {
  const base = o.xdsRetryBaseMs ?? XDS_RETRY_DEFAULTS.baseMs;
  const max = Math.max(base, o.xdsRetryMaxMs ?? XDS_RETRY_DEFAULTS.maxMs);
  return { retry_back_off: { base_interval: `${base / 1000}s`, max_interval: `${max / 1000}s` } };
}

/** The readiness listener: GET /ready proxied to the admin API's /ready; anything else 404. */
function readyListener(port: number): Record<string, unknown> {
  return {
    name: 'herald_ready',
    address: { socket_address: { address: '0.0.0.0', port_value: port } },
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
              stat_prefix: 'herald_ready',
              route_config: {
                name: 'herald_ready',
                virtual_hosts: [
                  {
                    name: 'ready',
                    domains: ['*'],
                    routes: [
                      { match: { path: '/ready', headers: [{ name: ':method', string_match: { exact: 'GET' } }] }, route: { cluster: 'envoy_admin' } },
                      { match: { prefix: '/' }, direct_response: { status: 404 } },
                    ],
                  },
                ],
              },
              http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
            },
          },
        ],
      },
    ],
  };
}

export function envoyBootstrap(o: BootstrapOptions): Record<string, unknown> {
  const fetchTimeout = `${(o.initialFetchTimeoutMs ?? 0) / 1000}s`;
  const ads = { ads: {}, resource_api_version: 'V3', initial_fetch_timeout: fetchTimeout };
  const metadata: Record<string, string> = {};
  if (o.egress) metadata[NODE_META.egress] = o.egress;
  if (o.ingress) metadata[NODE_META.ingress] = o.ingress;
  if (o.appPort !== undefined) metadata[NODE_META.appPort] = String(o.appPort);
  if (o.healthPath) metadata[NODE_META.healthPath] = o.healthPath;
  if (o.namespace) metadata[NODE_META.namespace] = o.namespace;
  if (o.egressScope) metadata[NODE_META.egressScope] = o.egressScope;
  const adminAddress = o.adminAddress ?? '127.0.0.1';
  const clusters: Record<string, unknown>[] = [
    staticCluster('herald_xds', [{ address: o.xdsAddress, port: o.xdsPort }, ...(o.xdsMore ?? [])], {
      ...(o.tls ? { transport_socket: xdsTransportSocket(o.tls) } : {}),
      ...(o.xdsMore?.length
        ? {
            health_checks: [{ timeout: '1s', interval: '2s', unhealthy_threshold: 1, healthy_threshold: 1, tcp_health_check: {} }],
            common_lb_config: { healthy_panic_threshold: { value: 0 } },
            // Each new ADS stream picks its instance at random. With ROUND_ROBIN, Envoy's default, a proxy's
            // only picks alternate between two instances, so after a restart every stream that reaches its
            // maximum age moves to the other instance together with the rest: the whole fleet flips back and forth
            // (measured in the lab's rebalance scenario). At random, after one age the streams are spread evenly.
            lb_policy: 'RANDOM',
            // A stream whose connect fails (the instance is gone) ejects that instance at once, for a second and
            // longer each time again, never more than half of them: the next attempt goes to a live one instead of
            // a coin toss, until the health check has seen it go.
            outlier_detection: {
              split_external_local_origin_errors: true,
              consecutive_local_origin_failure: 1,
              enforcing_consecutive_local_origin_failure: 100,
              interval: '1s',
              base_ejection_time: '1s',
              max_ejection_time: '10s',
              max_ejection_percent: 50,
            },
          }
        : {}),
      typed_extension_protocol_options: {
        'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
          '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
          explicit_http_config: { http2_protocol_options: { connection_keepalive: { interval: '10s', timeout: '5s' } } },
        },
      },
    }),
  ];
  const listeners: Record<string, unknown>[] = [];
  if (o.readyPort) {
    clusters.push(staticCluster('envoy_admin', [{ address: adminAddress === '0.0.0.0' ? '127.0.0.1' : adminAddress, port: o.adminPort }]));
    listeners.push(readyListener(o.readyPort));
  }
  return {
    node: {
      id: o.nodeId,
      cluster: o.cluster,
      locality: { ...(o.region ? { region: o.region } : {}), ...(o.zone ? { zone: o.zone } : {}) },
      metadata,
    },
    admin: { address: { socket_address: { address: adminAddress, port_value: o.adminPort } } },
    dynamic_resources: {
      ads_config: {
        api_type: o.protocol === 'delta' ? 'DELTA_GRPC' : 'GRPC',
        transport_api_version: 'V3',
        grpc_services: [{ envoy_grpc: { cluster_name: 'herald_xds', retry_policy: xdsRetryPolicy(o) } }],
        set_node_on_first_message_only: true,
      },
      cds_config: ads,
      lds_config: ads,
    },
    static_resources: { ...(listeners.length > 0 ? { listeners } : {}), clusters },
  };
}
