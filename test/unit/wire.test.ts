/** The hand-framed envelopes decode, with protobufjs and Envoy's own schema, to what was meant. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { messageType } from '../../src/xds/protos';
import { discoveryResponseParts, encodeAny, encodeDeltaDiscoveryResponse, encodeDeltaResource, encodeDiscoveryResponse, responseFrame, withNonce, writeFrame } from '../../src/xds/wire';

const CLA = messageType('envoy.config.endpoint.v3.ClusterLoadAssignment');
const CLA_URL = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';

function claBytes(name: string, ports: number): Uint8Array {
  const eps = Array.from({ length: ports }, (_, i) => ({ endpoint: { address: { socketAddress: { address: '10.0.0.1', portValue: 1000 + i } } } }));
  return CLA.encode(CLA.fromObject({ clusterName: name, endpoints: [{ lbEndpoints: eps }] })).finish();
}

test('DiscoveryResponse envelope decodes to its fields and resources', () => {
  // 200 endpoints make the Any longer than 127 bytes, exercising multi-byte length varints.
  const any = [encodeAny(CLA_URL, claBytes('a', 200)), encodeAny(CLA_URL, claBytes('b', 1))];
  const bytes = encodeDiscoveryResponse({ versionInfo: 'p-7', resources: any, typeUrl: CLA_URL, nonce: '42' });
  const msg = messageType('envoy.service.discovery.v3.DiscoveryResponse').decode(bytes) as any;
  assert.equal(msg.versionInfo, 'p-7');
  assert.equal(msg.typeUrl, CLA_URL);
  assert.equal(msg.nonce, '42');
  assert.equal(msg.resources.length, 2);
  assert.equal(msg.resources[0].type_url ?? msg.resources[0].typeUrl, CLA_URL);
  const a = CLA.decode(msg.resources[0].value) as any;
  assert.equal(a.clusterName, 'a');
  assert.equal(a.endpoints[0].lbEndpoints.length, 200);
});

test('DeltaDiscoveryResponse envelope carries resources with name and version, and removals', () => {
  const any = encodeAny(CLA_URL, claBytes('a', 2));
  const bytes = encodeDeltaDiscoveryResponse({
    systemVersionInfo: 'p-9',
    resources: [encodeDeltaResource('a', 'p-8', any)],
    removed: ['gone', 'also-gone'],
    typeUrl: CLA_URL,
    nonce: '3',
  });
  const msg = messageType('envoy.service.discovery.v3.DeltaDiscoveryResponse').decode(bytes) as any;
  assert.equal(msg.systemVersionInfo, 'p-9');
  assert.equal(msg.nonce, '3');
  assert.deepEqual(msg.removedResources, ['gone', 'also-gone']);
  assert.equal(msg.resources[0].name, 'a');
  assert.equal(msg.resources[0].version, 'p-8');
  assert.equal((CLA.decode(msg.resources[0].resource.value) as any).clusterName, 'a');
});

test('empty fields are omitted as proto3 requires', () => {
  const bytes = encodeDiscoveryResponse({ versionInfo: '', resources: [], typeUrl: CLA_URL, nonce: '1' });
  const msg = messageType('envoy.service.discovery.v3.DiscoveryResponse').decode(bytes) as any;
  assert.equal(msg.versionInfo, '');
  assert.equal(msg.resources.length, 0);
});

test('a response frame laid out into a reused buffer is the same bytes as withNonce', () => {
  const parts = discoveryResponseParts({ versionInfo: 'p-7', resources: [encodeAny(CLA_URL, claBytes('a', 200))], typeUrl: CLA_URL });
  const scratch = Buffer.alloc(1 << 16, 0xee);
  for (const nonce of ['', 'n', 'x'.repeat(300)]) {
    const frame = responseFrame(parts, nonce);
    const whole = withNonce(parts, nonce);
    assert.equal(frame.length, whole.length, `length with nonce of ${nonce.length}`);
    assert.equal(writeFrame(frame, scratch), whole.length);
    assert.deepEqual(scratch.subarray(0, whole.length), whole);
    const msg = messageType('envoy.service.discovery.v3.DiscoveryResponse').decode(whole) as any;
    assert.equal(msg.nonce, nonce);
  }
});
