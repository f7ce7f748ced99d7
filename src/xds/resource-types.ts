/**
 * One descriptor per xDS resource type Herald serves. Everything else (type unions, the message type of each
 * kind, name extraction, the checks a resource must pass, the order responses go out in) is derived from this
 * table; nothing restates a type URL.
 *
 * `validate` is the one place a kind's checks beyond the schema live (paths relative to the message): `encode.ts`
 * runs it on every resource of the kind before it enters the cache, after the strict schema walk. Its parameter
 * type is the kind's message type (`MessageOf`).
 */
import type { Cluster, Listener, RouteConfiguration } from './envoy-messages';
import { assignmentProblems, noProblems } from './validators';

export const RESOURCE_TYPES = {
  cluster: {
    typeUrl: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
    message: 'envoy.config.cluster.v3.Cluster',
    short: 'CDS',
    /** SotW responses of this type carry the whole subscribed set; absence means removal. */
    sotwFullState: true,
    nameField: 'name',
    validate: noProblems<Cluster>(),
  },
  endpoint: {
    typeUrl: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
    message: 'envoy.config.endpoint.v3.ClusterLoadAssignment',
    short: 'EDS',
    sotwFullState: false,
    nameField: 'clusterName',
    /** Every view gets what grpc-js-xds accepts, so a view's flavour never decides what is valid. */
    validate: assignmentProblems,
  },
  listener: {
    typeUrl: 'type.googleapis.com/envoy.config.listener.v3.Listener',
    message: 'envoy.config.listener.v3.Listener',
    short: 'LDS',
    sotwFullState: true,
    nameField: 'name',
    validate: noProblems<Listener>(),
  },
  route: {
    typeUrl: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
    message: 'envoy.config.route.v3.RouteConfiguration',
    short: 'RDS',
    sotwFullState: false,
    nameField: 'name',
    validate: noProblems<RouteConfiguration>(),
  },
} as const;

export type ResourceKind = keyof typeof RESOURCE_TYPES;
export type TypeUrl = (typeof RESOURCE_TYPES)[ResourceKind]['typeUrl'];

/**
 * The message type of a kind in protobufjs `fromObject` form, e.g. `MessageOf<'endpoint'>`: the type its
 * `validate` takes, so the table states it once.
 */
export type MessageOf<K extends ResourceKind> = Parameters<(typeof RESOURCE_TYPES)[K]['validate']>[0];

/** Make-before-break order: clusters before their endpoints, listeners before their routes. */
export const KIND_ORDER: readonly ResourceKind[] = ['cluster', 'endpoint', 'listener', 'route'];

const BY_URL = new Map<string, ResourceKind>(KIND_ORDER.map((k) => [RESOURCE_TYPES[k].typeUrl, k]));

/** The kind served under a type URL, or undefined for a type Herald does not serve. */
export function kindOf(typeUrl: string): ResourceKind | undefined {
  return BY_URL.get(typeUrl);
}

/** A reference to one resource, e.g. the ClusterLoadAssignment a Cluster depends on. */
export interface ResourceRef {
  readonly kind: ResourceKind;
  readonly name: string;
}
