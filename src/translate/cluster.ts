/** Service → envoy.config.cluster.v3.Cluster, with the policy's health checking and outlier detection. */
import type { ResourceInput } from '../xds/cache';
import type { Service } from '../model/types';
import { resolvePolicy, type ClusterPolicy } from '../model/policy';
import { ADS_SOURCE, duration, typed } from './envoy-types';
import type { ProxyView } from './view';

export function clusterName(service: string): string {
  return service;
}

function healthChecks(p: ClusterPolicy['healthCheck']): Record<string, unknown>[] {
  if (!p.enabled) return [];
  return [
    {
      timeout: duration(p.timeoutMs),
      interval: duration(p.intervalMs),
      noTrafficInterval: duration(p.noTrafficIntervalMs),
      healthyThreshold: { value: p.healthyThreshold },
      unhealthyThreshold: { value: p.unhealthyThreshold },
      httpHealthCheck: { path: p.path },
    },
  ];
}

export function translateCluster(service: Service, view: ProxyView, base?: ClusterPolicy): ResourceInput {
  const p = resolvePolicy(service.policy, base);
  const name = clusterName(service.name);
  const od = p.outlierDetection;
  const message: Record<string, unknown> = {
    name,
    type: 'EDS',
    edsClusterConfig: { edsConfig: ADS_SOURCE, serviceName: name },
    connectTimeout: duration(p.connectTimeoutMs),
    lbPolicy: 'ROUND_ROBIN',
    healthChecks: view.flavor === 'envoy' ? healthChecks(p.healthCheck) : [],
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
    },
    ignoreHealthOnHostRemoval: p.ignoreHealthOnHostRemoval,
  };
  if (p.protocol === 'http2') {
    message.typedExtensionProtocolOptions = {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': typed('envoy.extensions.upstreams.http.v3.HttpProtocolOptions', {
        explicitHttpConfig: { http2ProtocolOptions: {} },
      }),
    };
  }
  return { name, message, dependents: [{ kind: 'endpoint', name }] };
}
