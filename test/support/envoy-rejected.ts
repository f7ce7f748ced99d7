/**
 * A cache batch Herald's validation accepts but Envoy rejects (a health check with a zero timeout: Envoy's proto
 * constraint is "greater than 0s"), for tests of NACK handling with a real Envoy.
 */
import type { KindUpdate } from '../../src/xds/cache';

export function envoyRejectedCluster(name: string): KindUpdate[] {
  return [
    {
      kind: 'cluster',
      upsert: [
        {
          name,
          message: {
            name,
            type: 'EDS',
            edsClusterConfig: { edsConfig: { ads: {}, resourceApiVersion: 'V3' }, serviceName: name },
            connectTimeout: { seconds: 1 },
            healthChecks: [{ timeout: { seconds: 0 }, interval: { seconds: 1 }, unhealthyThreshold: { value: 1 }, healthyThreshold: { value: 1 }, httpHealthCheck: { path: '/' } }],
          },
          dependents: [{ kind: 'endpoint', name }],
        },
      ],
    },
  ];
}
