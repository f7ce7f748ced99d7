/**
 * Listeners and routes. A sidecar Envoy gets one egress listener that routes by Host / :authority to the
 * service's cluster; a proxyless gRPC client gets one API listener per service (its `xds:///name` target).
 */
import type { ResourceInput } from '../xds/cache';
import type { Mesh, Service } from '../model/types';
import { resolvePolicy, type ClusterPolicy } from '../model/policy';
import { ADS_SOURCE, HCM_TYPE, ROUTER_FILTER, duration, socketAddress, typed } from './envoy-types';
import { clusterName } from './cluster';
import type { ProxyView } from './view';

export const EGRESS = 'egress';

function hcm(statPrefix: string, routeName: string): Record<string, unknown> {
  return typed(HCM_TYPE, {
    statPrefix,
    codecType: 'AUTO',
    rds: { routeConfigName: routeName, configSource: ADS_SOURCE },
    httpFilters: [ROUTER_FILTER],
    stripAnyHostPort: true,
  });
}

function route(service: Service, base?: ClusterPolicy): Record<string, unknown> {
  const p = resolvePolicy(service.policy, base);
  const action: Record<string, unknown> = { cluster: clusterName(service.name), timeout: duration(p.requestTimeoutMs) };
  if (p.retries > 0) action.retryPolicy = { retryOn: '5xx,reset,connect-failure', numRetries: { value: p.retries } };
  return { match: { prefix: '/' }, route: action };
}

function virtualHost(service: Service, base?: ClusterPolicy): Record<string, unknown> {
  return { name: service.name, domains: [service.name], routes: [route(service, base)] };
}

function splitHostPort(hostPort: string): [string, number] {
  const i = hostPort.lastIndexOf(':');
  return [hostPort.slice(0, i).replace(/^\[|\]$/g, ''), Number(hostPort.slice(i + 1))];
}

export function translateListeners(mesh: Mesh, view: ProxyView, base?: ClusterPolicy): { listeners: ResourceInput[]; routes: ResourceInput[] } {
  const services = [...mesh.services.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  if (view.flavor === 'grpc') {
    return {
      listeners: services.map((s) => ({
        name: s.name,
        message: { name: s.name, apiListener: { apiListener: hcm(s.name, s.name) } },
        dependents: [{ kind: 'route' as const, name: s.name }],
      })),
      routes: services.map((s) => ({ name: s.name, message: { name: s.name, virtualHosts: [virtualHost(s, base)] } })),
    };
  }
  const [address, port] = splitHostPort(view.egress);
  return {
    listeners: [
      {
        name: EGRESS,
        message: {
          name: EGRESS,
          address: socketAddress(address, port),
          filterChains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typedConfig: hcm(EGRESS, EGRESS) }] }],
        },
        dependents: [{ kind: 'route', name: EGRESS }],
      },
    ],
    routes: [{ name: EGRESS, message: { name: EGRESS, virtualHosts: services.map((s) => virtualHost(s, base)) } }],
  };
}
