/**
 * Service → envoy.config.cluster.v3.Cluster, with the policy's health checking and outlier detection; and the
 * sidecar's `local_app` cluster (its own application on loopback) for views with an ingress.
 */
import type { ResourceInput } from '../xds/cache';
import type { Cluster, HealthCheck } from '../xds/envoy-messages';
import type { Service } from '../model/types';
import { DEFAULT_POLICY, resolvePolicy, type ClusterPolicy } from '../model/policy';
import { ADS_SOURCE, duration, socketAddress, typed } from './envoy-types';
import type { IngressView, ProxyView } from './view';
import { envoyName } from '../model/names';

/**
 * The cluster (and ClusterLoadAssignment) name of a service `<namespace>/<name>`: `<name>.<namespace>`
 * (model/names.ts envoyName).
 */
export function clusterName(service: string): string {
  return envoyName(service);
}

/**
 * The sidecar's own application. Service names never contain `_`, so it cannot collide with a service.
 */
export const LOCAL_APP_CLUSTER = 'local_app';

const HTTP_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions' as const;

function healthChecks(p: ClusterPolicy): HealthCheck[] {
  const hc = p.healthCheck;
  if (!hc.enabled) return [];
  return [
    {
      timeout: duration(hc.timeoutMs),
      interval: duration(hc.intervalMs),
      noTrafficInterval: duration(hc.noTrafficIntervalMs),
      healthyThreshold: { value: hc.healthyThreshold },
      unhealthyThreshold: { value: hc.unhealthyThreshold },
      // An HTTP/2-only upstream (gRPC) would fail an HTTP/1.1 health check.
      httpHealthCheck: { path: hc.path, ...(p.protocol === 'http2' ? { codecClientType: 'HTTP2' as const } : {}) },
    },
  ];
}

/**
 * The service's cluster: endpoints by EDS over ADS. Active health checks go to sidecar views only (proxyless
 * gRPC clients do not run them); everything else is the same for every view.
 */
export function translateCluster(service: Service, view: ProxyView, base?: ClusterPolicy): ResourceInput<'cluster'> {
  const p = resolvePolicy(service.policy, base);
  const name = clusterName(service.name);
  const od = p.outlierDetection;
  const message: Cluster = {
    name,
    type: 'EDS',
    edsClusterConfig: { edsConfig: ADS_SOURCE, serviceName: name },
    connectTimeout: duration(p.connectTimeoutMs),
    lbPolicy: 'ROUND_ROBIN',
    healthChecks: view.flavor === 'envoy' ? healthChecks(p) : [],
    outlierDetection: {
      consecutive_5xx: { value: od.consecutive5xx },
      maxEjectionPercent: { value: od.maxEjectionPercent },
      successRateMinimumHosts: { value: od.successRateMinimumHosts },
      successRateRequestVolume: { value: od.successRateRequestVolume },
      successRateStdevFactor: { value: od.successRateStdevFactor },
    },
    commonLbConfig: {
      healthyPanicThreshold: { value: p.healthyPanicThresholdPercent },
      ignoreNewHostsUntilFirstHc: p.ignoreNewHostsUntilFirstHc,
      updateMergeWindow: duration(p.updateMergeWindowMs),
    },
    ignoreHealthOnHostRemoval: p.ignoreHealthOnHostRemoval,
    ...(p.protocol === 'http2'
      ? { typedExtensionProtocolOptions: { [HTTP_OPTIONS]: typed(HTTP_OPTIONS, { explicitHttpConfig: { http2ProtocolOptions: {} } }) } }
      : {}),
  };
  return { name, message, dependents: [{ kind: 'endpoint', name }] };
}

/**
 * `local_app`: STATIC, 127.0.0.1:<appPort>, speaking to the app in the protocol the caller used (HTTP/1.1 in,
 * HTTP/1.1 out; HTTP/2 in, HTTP/2 out), so gRPC and plain HTTP apps both work without a per-app setting.
 * No health checks: callers' health checks reach the app through the ingress listener.
 */
export function localAppCluster(ingress: IngressView, base: ClusterPolicy = DEFAULT_POLICY): ResourceInput<'cluster'> {
  const name = LOCAL_APP_CLUSTER;
  return {
    name,
    message: {
      name,
      type: 'STATIC',
      connectTimeout: duration(base.connectTimeoutMs),
      loadAssignment: { clusterName: name, endpoints: [{ lbEndpoints: [{ endpoint: { address: socketAddress('127.0.0.1', ingress.appPort) } }] }] },
      typedExtensionProtocolOptions: {
        [HTTP_OPTIONS]: typed(HTTP_OPTIONS, { useDownstreamProtocolConfig: { httpProtocolOptions: {}, http2ProtocolOptions: {} } }),
      },
    },
  };
}
