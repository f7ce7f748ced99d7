/** `herald bootstrap`: flags and environment → an Envoy bootstrap, or every problem. (Real Envoy runs its output in test/e2e/sidecar-ready.test.ts.) */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bootstrapCommand } from '../../src/cli/bootstrap';

function ok(argv: string[], env: Record<string, string> = {}): any {
  const r = bootstrapCommand(argv, env, 'host-1');
  assert.ok('bootstrap' in r, JSON.stringify(r));
  return r.bootstrap;
}

test('bootstrap: defaults give a sidecar with loopback admin, Delta (incremental) ADS and initial_fetch_timeout 0', () => {
  const b = ok([]);
  assert.equal(b.node.id, 'host-1');
  assert.equal(b.node.cluster, 'sidecar');
  assert.deepEqual(b.node.metadata, { HERALD_EGRESS: '127.0.0.1:15001' });
  assert.deepEqual(b.admin.address.socket_address, { address: '127.0.0.1', port_value: 9901 });
  assert.equal(b.dynamic_resources.ads_config.api_type, 'DELTA_GRPC');
  assert.equal(ok(['--protocol', 'sotw']).dynamic_resources.ads_config.api_type, 'GRPC', 'SotW on request');
  assert.equal(b.dynamic_resources.cds_config.initial_fetch_timeout, '0s');
  assert.equal(b.dynamic_resources.lds_config.initial_fetch_timeout, '0s');
  const xds = b.static_resources.clusters.find((c: any) => c.name === 'herald_xds');
  assert.equal(xds.type, 'STATIC');
  assert.deepEqual(xds.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address, { address: '127.0.0.1', port_value: 18000 });
  assert.equal(b.static_resources.listeners[0].address.socket_address.port_value, 15021, 'readiness listener on by default');
});

test('bootstrap: the environment a Kubernetes pod gives (downward API), flags win over it', () => {
  const env = {
    POD_NAME: 'web-7d9f-abc',
    POD_NAMESPACE: 'shop',
    HERALD_ZONE: 'us-east-1a',
    HERALD_REGION: 'us-east-1',
    HERALD_XDS: 'herald-xds.herald-system.svc:18000',
    HERALD_XDS_PROTOCOL: 'delta',
    HERALD_INGRESS: '0.0.0.0:15006',
    HERALD_APP_PORT: '8080',
    HERALD_HEALTH_PATH: '/ready',
    HERALD_CLUSTER: 'web',
  };
  const b = ok([], env);
  assert.equal(b.node.id, 'web-7d9f-abc.shop');
  assert.equal(b.node.cluster, 'web');
  assert.deepEqual(b.node.locality, { region: 'us-east-1', zone: 'us-east-1a' });
  assert.deepEqual(b.node.metadata, { HERALD_EGRESS: '127.0.0.1:15001', HERALD_INGRESS: '0.0.0.0:15006', HERALD_APP_PORT: '8080', HERALD_HEALTH_PATH: '/ready', HERALD_NAMESPACE: 'shop' }, 'the pod namespace becomes the proxy namespace');
  assert.equal(b.dynamic_resources.ads_config.api_type, 'DELTA_GRPC');
  const xds = b.static_resources.clusters.find((c: any) => c.name === 'herald_xds');
  assert.equal(xds.type, 'LOGICAL_DNS', 'a Service name is resolved by Envoy');
  const flagged = ok(['--node-id', 'n1', '--zone', 'b', '--protocol', 'sotw'], env);
  assert.equal(flagged.node.id, 'n1');
  assert.equal(flagged.node.locality.zone, 'b');
  assert.equal(flagged.dynamic_resources.ads_config.api_type, 'GRPC');
});

test('bootstrap: namespace and egress scope go into node metadata; an empty scope from the downward API is none', () => {
  const b = ok(['--namespace', 'team-a', '--egress-scope', 'team-b/api, ./*']);
  assert.equal(b.node.metadata.HERALD_NAMESPACE, 'team-a');
  assert.equal(b.node.metadata.HERALD_EGRESS_SCOPE, 'team-b/api, ./*');
  const fromEnv = ok([], { POD_NAMESPACE: 'shop', HERALD_EGRESS_SCOPE: '' });
  assert.equal(fromEnv.node.metadata.HERALD_NAMESPACE, 'shop');
  assert.equal(fromEnv.node.metadata.HERALD_EGRESS_SCOPE, undefined, 'a pod without herald.io/egress declares no scope');
  assert.equal(ok(['--namespace', 'ns1'], { POD_NAMESPACE: 'shop' }).node.metadata.HERALD_NAMESPACE, 'ns1', 'the flag wins');
});

test('bootstrap: --ready-port 0 leaves out the readiness listener and its admin cluster', () => {
  const b = ok(['--ready-port', '0']);
  assert.equal(b.static_resources.listeners, undefined);
  assert.deepEqual(b.static_resources.clusters.map((c: any) => c.name), ['herald_xds']);
});

test('bootstrap: ADS reconnects within 100 ms–1 s; several instances are health-checked and picked at random', () => {
  const one = ok([]);
  assert.deepEqual(one.dynamic_resources.ads_config.grpc_services[0].envoy_grpc.retry_policy, { retry_back_off: { base_interval: '0.1s', max_interval: '1s' } });
  const single = one.static_resources.clusters.find((c: any) => c.name === 'herald_xds');
  assert.equal(single.lb_policy, undefined);
  assert.equal(single.health_checks, undefined);
  const two = ok(['--xds', '127.0.0.1:18000,127.0.0.2:18000']);
  assert.deepEqual(two.dynamic_resources.ads_config.grpc_services[0].envoy_grpc.retry_policy, { retry_back_off: { base_interval: '0.1s', max_interval: '1s' } });
  const xds = two.static_resources.clusters.find((c: any) => c.name === 'herald_xds');
  assert.equal(xds.lb_policy, 'RANDOM', 'round robin would move every aged stream to the other instance together');
  assert.equal(xds.health_checks[0].interval, '2s');
  assert.equal(xds.common_lb_config.healthy_panic_threshold.value, 0);
  assert.equal(xds.load_assignment.endpoints[0].lb_endpoints.length, 2);
});

const bad: Record<string, { argv: string[]; env?: Record<string, string>; problem: RegExp }> = {
  'unknown flag': { argv: ['--zonee', 'a'], problem: /zonee/ },
  'bad namespace': { argv: ['--namespace', 'Team_A'], problem: /^--namespace: must be a namespace/ },
  'bad scope entry': { argv: ['--egress-scope', 'team-b/api, nonsense'], problem: /^--egress-scope: "nonsense": must be <namespace>\/<name>/ },
  'bad protocol from env': { argv: [], env: { HERALD_XDS_PROTOCOL: 'grpc' }, problem: /^HERALD_XDS_PROTOCOL: must be sotw or delta/ },
  'xds without port': { argv: ['--xds', 'herald'], problem: /^--xds: must be host:port/ },
  'app port out of range': { argv: ['--ingress', '0.0.0.0:15006', '--app-port', '70000'], problem: /^--app-port: must be a port 1\.\.65535/ },
  'ingress without app port': { argv: ['--ingress', '0.0.0.0:15006'], problem: /give both or neither/ },
  'health path without ingress': { argv: ['--health-path', '/ready'], problem: /only meaningful with --ingress/ },
  'health path without slash': { argv: ['--ingress', '0.0.0.0:15006', '--app-port', '8080', '--health-path', 'ready'], problem: /must be an HTTP path/ },
  'ready port equals admin port': { argv: ['--ready-port', '9901'], problem: /must differ/ },
};

for (const [name, c] of Object.entries(bad)) {
  test(`bootstrap rejects: ${name}`, () => {
    const r = bootstrapCommand(c.argv, c.env ?? {}, 'h');
    assert.ok('problems' in r, JSON.stringify(r).slice(0, 200));
    if ('problems' in r) assert.ok(r.problems.some((p) => c.problem.test(p)), r.problems.join('\n'));
  });
}

test('bootstrap: --tls-ca/--tls-cert/--tls-key give the xDS cluster an UpstreamTlsContext with the client certificate', () => {
  const b = ok(['--tls-ca', '/tls/ca.crt', '--tls-cert', '/tls/tls.crt', '--tls-key', '/tls/tls.key', '--tls-server-name', 'herald-xds.herald-system.svc', '--namespace', 'shop'], {});
  const xds = b.static_resources.clusters.find((c: any) => c.name === 'herald_xds');
  const ctx = xds.transport_socket.typed_config;
  assert.equal(ctx['@type'], 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext');
  assert.equal(ctx.sni, 'herald-xds.herald-system.svc');
  assert.deepEqual(ctx.common_tls_context.tls_certificates, [{ certificate_chain: { filename: '/tls/tls.crt' }, private_key: { filename: '/tls/tls.key' } }]);
  assert.deepEqual(ctx.common_tls_context.validation_context.trusted_ca, { filename: '/tls/ca.crt' });
  assert.equal(b.node.metadata.HERALD_NAMESPACE, 'shop');
  const plain = ok([], {});
  assert.equal(plain.static_resources.clusters.find((c: any) => c.name === 'herald_xds').transport_socket, undefined, 'plaintext by default');
  const bad = bootstrapCommand(['--tls-cert', '/x'], {}, 'host');
  assert.ok('problems' in bad && bad.problems.some((p) => /--tls-key/.test(p)) && bad.problems.some((p) => /--tls-ca/.test(p)));
});

test('bootstrap: --tls-sds-dir puts the client certificate behind an SDS file whose content is returned to write', () => {
  const r = bootstrapCommand(['--tls-ca', '/tls/ca.crt', '--tls-cert', '/tls/tls.crt', '--tls-key', '/tls/tls.key', '--tls-sds-dir', '/etc/envoy'], {}, 'host');
  assert.ok('bootstrap' in r);
  const b: any = r.bootstrap;
  const ctx = b.static_resources.clusters.find((c: any) => c.name === 'herald_xds').transport_socket.typed_config.common_tls_context;
  assert.equal(ctx.tls_certificates, undefined);
  assert.deepEqual(ctx.tls_certificate_sds_secret_configs[0].sds_config.path_config_source, { path: '/etc/envoy/herald-xds-client.json' });
  const secret: any = r.files?.['/etc/envoy/herald-xds-client.json'];
  assert.equal(secret.resources[0].name, ctx.tls_certificate_sds_secret_configs[0].name);
  assert.deepEqual(secret.resources[0].tls_certificate.watched_directory, { path: '/tls' });
  assert.ok('problems' in bootstrapCommand(['--tls-sds-dir', '/x'], {}, 'host'));
});
