/**
 * strict.ts: every key and value protobufjs `fromObject` would drop or coerce is refused, with its path; and
 * what `fromObject` encodes as written passes. Table tests keyed by case name, against Envoy's real schema.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { messageType } from '../../src/xds/protos';
import { MAX_DEPTH, strictProblem } from '../../src/xds/strict';

const CLUSTER = messageType('envoy.config.cluster.v3.Cluster');
const CLA = messageType('envoy.config.endpoint.v3.ClusterLoadAssignment');
const LISTENER = messageType('envoy.config.listener.v3.Listener');
const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

const address = (portValue: unknown) => ({ socketAddress: { address: '10.0.0.1', portValue } });
const cla = (lbEndpoint: Record<string, unknown>) => ({ clusterName: 'web', endpoints: [{ lbEndpoints: [{ endpoint: { address: address(80) } }, lbEndpoint] }] });
const listener = (typedConfig: Record<string, unknown>) => ({ name: 'l', filterChains: [{ filters: [{ name: 'hcm', typedConfig }] }] });

const refused: Record<string, [typeof CLUSTER, unknown, string]> = {
  'a misspelled nested field': [CLUSTER, { name: 'web', outlierDetection: { consecutive5xx: { value: 3 } } }, 'outlierDetection.consecutive5xx: unknown field (envoy.config.cluster.v3.OutlierDetection)'],
  'a misspelled top-level field': [CLUSTER, { name: 'web', conectTimeout: { seconds: 1 } }, 'conectTimeout: unknown field (envoy.config.cluster.v3.Cluster)'],
  'a snake_case name where protobufjs wants camelCase': [CLUSTER, { name: 'web', connect_timeout: { seconds: 1 } }, 'connect_timeout: unknown field (envoy.config.cluster.v3.Cluster)'],
  "a oneof's virtual name": [CLUSTER, { name: 'web', clusterDiscoveryType: 'type' }, 'clusterDiscoveryType: unknown field (envoy.config.cluster.v3.Cluster)'],
  'two members of one oneof': [CLUSTER, { name: 'web', type: 'EDS', clusterType: { name: 'x' } }, 'clusterType: oneof: type and clusterType are both set (envoy.config.cluster.v3.Cluster)'],
  'an unknown enum name': [CLUSTER, { name: 'web', lbPolicy: 'ROUND_ROBINS' }, 'lbPolicy: unknown enum value "ROUND_ROBINS" (envoy.config.cluster.v3.Cluster.LbPolicy)'],
  'an unknown enum number': [CLUSTER, { name: 'web', lbPolicy: 99 }, 'lbPolicy: unknown enum number 99 (envoy.config.cluster.v3.Cluster.LbPolicy)'],
  'a key deep in a repeated field': [CLA, cla({ endpoint: { adress: address(80) } }), 'endpoints[0].lbEndpoints[1].endpoint.adress: unknown field (envoy.config.endpoint.v3.Endpoint)'],
  'an unknown health status': [CLA, cla({ endpoint: { address: address(80) }, healthStatus: 'DRAINED' }), 'endpoints[0].lbEndpoints[1].healthStatus: unknown enum value "DRAINED" (envoy.config.core.v3.HealthStatus)'],
  'a port that is text': [CLA, cla({ endpoint: { address: address('http') } }), 'endpoints[0].lbEndpoints[1].endpoint.address.socketAddress.portValue: uint32 expected, got "http"'],
  'a port out of range': [CLA, cla({ endpoint: { address: address(-1) } }), 'endpoints[0].lbEndpoints[1].endpoint.address.socketAddress.portValue: uint32 expected, got number -1'],
  'a message that is an array': [CLA, cla({ endpoint: { address: [address(80)] } }), 'endpoints[0].lbEndpoints[1].endpoint.address: plain object expected (envoy.config.core.v3.Address), got an array'],
  'a message that is a Map': [CLA, cla({ endpoint: { address: new Map() } }), 'endpoints[0].lbEndpoints[1].endpoint.address: plain object expected (envoy.config.core.v3.Address), got a Map instance'],
  'a repeated field that is not an array': [CLA, { clusterName: 'web', endpoints: { lbEndpoints: [] } }, 'endpoints: array expected, got an object'],
  'a null element': [CLA, { clusterName: 'web', endpoints: [null] }, 'endpoints[0]: element expected, got null'],
  'a string where a string is not': [CLA, { clusterName: 7 }, 'clusterName: string expected, got number 7'],
  'a struct value of the wrong kind': [CLA, cla({ endpoint: { address: address(80) }, metadata: { filterMetadata: { herald: { fields: { pod: { stringValu: 'a' } } } } } }), 'endpoints[0].lbEndpoints[1].metadata.filterMetadata[herald].fields[pod].stringValu: unknown field (google.protobuf.Value)'],
  'a map that is not an object': [CLUSTER, { name: 'web', typedExtensionProtocolOptions: ['x'] }, 'typedExtensionProtocolOptions: object (a map) expected, got an array'],
  'an Any of a type not in the schema': [LISTENER, listener({ '@type': 'type.googleapis.com/envoy.nope.v3.Nope', statPrefix: 'x' }), 'filterChains[0].filters[0].typedConfig.@type: unknown type "envoy.nope.v3.Nope": not in the loaded schema, so protobufjs would send an empty Any'],
  'an Any type URL without a slash': [LISTENER, listener({ '@type': 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager' }), 'filterChains[0].filters[0].typedConfig.@type: type URL "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager" has no "/" (type.googleapis.com/<message>)'],
  'a misspelled field inside an Any': [LISTENER, listener({ '@type': HCM, statPrefx: 'x' }), 'filterChains[0].filters[0].typedConfig.statPrefx: unknown field (envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager)'],
  'a misspelled field in an Any inside an Any': [
    LISTENER,
    listener({ '@type': HCM, statPrefix: 'x', httpFilters: [{ name: 'router', typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router', suppressEnvoyHeader: true } }] }),
    'filterChains[0].filters[0].typedConfig.httpFilters[0].typedConfig.suppressEnvoyHeader: unknown field (envoy.extensions.filters.http.router.v3.Router)',
  ],
  'an Any without @type in camelCase form': [LISTENER, listener({ typeUrl: HCM, value: '' }), 'filterChains[0].filters[0].typedConfig.typeUrl: unknown field (google.protobuf.Any)'],
  'a 64-bit integer that is not one': [CLUSTER, { name: 'web', connectTimeout: { seconds: 1.5 } }, 'connectTimeout.seconds: int64 expected (a safe integer, a decimal string or a Long), got number 1.5'],
  'bytes that are not base64': [LISTENER, listener({ type_url: HCM, value: 'not base64!' }), 'filterChains[0].filters[0].typedConfig.value: bytes (Uint8Array or base64) expected, got "not base64!"'],
  'not an object at all': [CLUSTER, 'web', 'plain object expected (envoy.config.cluster.v3.Cluster), got "web"'],
};

for (const [name, [type, value, expected]] of Object.entries(refused)) {
  test(`strict refuses ${name}`, () => {
    assert.equal(strictProblem(type, value), expected);
  });
}

const accepted: Record<string, [typeof CLUSTER, unknown]> = {
  'null and undefined as absent': [CLUSTER, { name: 'web', connectTimeout: undefined, outlierDetection: null }],
  'a oneof with one member set and the other absent': [CLUSTER, { name: 'web', type: 'EDS', clusterType: undefined }],
  'enum numbers and names': [CLUSTER, { name: 'web', type: 3, lbPolicy: 'LEAST_REQUEST' }],
  '64-bit integers as numbers and decimal strings': [CLUSTER, { name: 'web', connectTimeout: { seconds: '5', nanos: 0 }, dnsRefreshRate: { seconds: 2 } }],
  'snake_case names the schema itself has': [CLUSTER, { name: 'web', outlierDetection: { consecutive_5xx: { value: 3 }, enforcingConsecutive_5xx: { value: 100 } } }],
  'an Any with @type and its fields': [LISTENER, listener({ '@type': HCM, statPrefix: 'x', codecType: 'AUTO' })],
  'an Any in its own form (type_url, bytes)': [LISTENER, listener({ type_url: HCM, value: new Uint8Array([10, 1, 120]) })],
  'a null-prototype object': [CLA, Object.assign(Object.create(null), { clusterName: 'web' })],
};

for (const [name, [type, value]] of Object.entries(accepted)) {
  test(`strict accepts ${name}`, () => {
    assert.equal(strictProblem(type, value), undefined);
  });
}

test('a cyclic object fails at the depth bound instead of overflowing the stack', () => {
  const value: Record<string, unknown> = { fields: {} };
  (value.fields as Record<string, unknown>).self = { structValue: value };
  const problem = strictProblem(messageType('google.protobuf.Struct'), value);
  assert.match(problem ?? '', new RegExp(`nested deeper than ${MAX_DEPTH} messages`));
});

test('what strict accepts, fromObject encodes as written: nothing dropped on the way', () => {
  const value = { name: 'web', type: 'EDS', connectTimeout: { seconds: 2, nanos: 5 }, outlierDetection: { consecutive_5xx: { value: 3 } }, lbPolicy: 'LEAST_REQUEST' };
  assert.equal(strictProblem(CLUSTER, value), undefined);
  const back = CLUSTER.toObject(CLUSTER.decode(CLUSTER.encode(CLUSTER.fromObject(value)).finish()), { enums: String, longs: Number });
  assert.deepEqual(back, value);
});
