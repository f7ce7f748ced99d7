/**
 * Listeners and routes.
 *
 * A sidecar Envoy gets:
 * - `egress` (OUTBOUND): the application's way out. HTTP/1.1 and HTTP/2 (codec AUTO, so h2c prior knowledge
 *   works), routed by Host / :authority (port stripped) to the service's cluster through RDS route `egress`.
 * - `ingress` (INBOUND), when its view has one: the way in to the local application (cluster `local_app`), with
 *   Envoy's health_check filter in pass-through mode on the view's health path: a caller's active health check
 *   is answered by the application itself, except once this Envoy is failing health checks (`/healthcheck/fail`,
 *   which the pod's preStop calls), when the filter answers 503 at once and marks every response with
 *   `x-envoy-immediate-health-check-fail` so callers' Envoys drop this host without waiting for a check.
 * Both drain (drain_type DEFAULT): on `/drain_listeners?graceful` HTTP/1.1 responses get `connection: close`
 * and HTTP/2 connections a GOAWAY, for `--drain-time-s`, before the listeners close.
 *
 * A proxyless gRPC client gets one API listener per name a service answers to (its `xds:///name` target: the
 * forms of model/names.ts) and one route per service.
 */
import type { ResourceInput } from '../xds/cache';
import type { Address, AnyOf, Route, RouteAction, VirtualHost } from '../xds/envoy-messages';
import type { Service } from '../model/types';
import { resolvePolicy, type ClusterPolicy } from '../model/policy';
import { ADS_SOURCE, HCM_TYPE, ROUTER_FILTER, duration, socketAddress, typed } from './envoy-types';
import { LOCAL_APP_CLUSTER, clusterName } from './cluster';
import { splitHostPort, type IngressView } from './view';

export const EGRESS = 'egress';
export const INGRESS = 'ingress';

const HCM_FILTER = 'envoy.filters.network.http_connection_manager';
const HEALTH_CHECK_TYPE = 'envoy.extensions.filters.http.health_check.v3.HealthCheck';

function hcm(statPrefix: string, routeName: string): AnyOf<typeof HCM_TYPE> {
  return typed(HCM_TYPE, {
    statPrefix,
    codecType: 'AUTO',
    rds: { routeConfigName: routeName, configSource: ADS_SOURCE },
    httpFilters: [ROUTER_FILTER],
    stripAnyHostPort: true,
  });
}

function route(service: Service, base?: ClusterPolicy): Route {
  const p = resolvePolicy(service.policy, base);
  const action: RouteAction = {
    cluster: clusterName(service.name),
    timeout: duration(p.requestTimeoutMs),
    ...(p.retries > 0 ? { retryPolicy: { retryOn: '5xx,reset,connect-failure', numRetries: { value: p.retries } } } : {}),
  };
  return { match: { prefix: '/' }, route: action };
}

/** The service's virtual host: named by its Envoy name, answering to `domains` (model/names.ts claimHostNames). */
function virtualHost(service: Service, domains: readonly string[], base?: ClusterPolicy): VirtualHost {
  return { name: clusterName(service.name), domains: [...domains], routes: [route(service, base)] };
}

function bind(hostPort: string): Address {
  const hp = splitHostPort(hostPort);
  if (!hp) throw new Error(`listener address ${JSON.stringify(hostPort)} is not host:port`);
  return socketAddress(hp[0], hp[1]);
}

/** The ingress listener: everything to local_app, health checks passed through (see the file comment). */
export function ingressListener(ingress: IngressView): ResourceInput<'listener'> {
  const config = typed(HCM_TYPE, {
    statPrefix: INGRESS,
    codecType: 'AUTO',
    routeConfig: {
      name: INGRESS,
      virtualHosts: [
        {
          name: LOCAL_APP_CLUSTER,
          domains: ['*'],
          // No route timeout: the caller's egress route (or its own deadline) bounds the request.
          routes: [{ match: { prefix: '/' }, route: { cluster: LOCAL_APP_CLUSTER, timeout: duration(0) } }],
        },
      ],
    },
    httpFilters: [
      {
        name: 'envoy.filters.http.health_check',
        typedConfig: typed(HEALTH_CHECK_TYPE, {
          passThroughMode: { value: true },
          headers: [{ name: ':path', stringMatch: { exact: ingress.healthPath } }],
        }),
      },
      ROUTER_FILTER,
    ],
  });
  return {
    name: INGRESS,
    message: {
      name: INGRESS,
      address: bind(ingress.listen),
      trafficDirection: 'INBOUND',
      drainType: 'DEFAULT',
      filterChains: [{ filters: [{ name: HCM_FILTER, typedConfig: config }] }],
    },
  };
}

/** The sidecar's egress listener, bound at `egress` (host:port), routed by RDS route `egress`. */
export function egressListener(egress: string): ResourceInput<'listener'> {
  return {
    name: EGRESS,
    message: {
      name: EGRESS,
      address: bind(egress),
      trafficDirection: 'OUTBOUND',
      drainType: 'DEFAULT',
      filterChains: [{ filters: [{ name: HCM_FILTER, typedConfig: hcm(EGRESS, EGRESS) }] }],
    },
    dependents: [{ kind: 'route', name: EGRESS }],
  };
}

/**
 * The sidecar's egress route: one virtual host per service (sorted by id), answering to the names the proxy may
 * use for it (`names`, from claimHostNames for the proxy's namespace).
 */
export function egressRoute(services: readonly Service[], names: ReadonlyMap<string, readonly string[]>, base?: ClusterPolicy): ResourceInput<'route'> {
  return { name: EGRESS, message: { name: EGRESS, virtualHosts: services.map((s) => virtualHost(s, names.get(s.name) ?? [clusterName(s.name)], base)) } };
}

/**
 * A proxyless gRPC client's API listener for one name a service answers to (its `xds:///<name>` target), routed
 * by RDS to the service's route (named by the service's Envoy name).
 */
export function grpcListener(target: string, service: Service): ResourceInput<'listener'> {
  const routeName = clusterName(service.name);
  return { name: target, message: { name: target, apiListener: { apiListener: hcm(routeName, routeName) } }, dependents: [{ kind: 'route', name: routeName }] };
}

/** The route of a service for proxyless gRPC: one virtual host answering to every name of its listeners. */
export function grpcRoute(service: Service, names: readonly string[], base?: ClusterPolicy): ResourceInput<'route'> {
  const name = clusterName(service.name);
  return { name, message: { name, virtualHosts: [virtualHost(service, names, base)] } };
}
