/**
 * The lab's application: a Deployment of lab backends (label app=<name>) with a realistic termination, and its
 * Service (the EndpointSlice controller only publishes pods that a Service selects).
 *
 * On the lab kubelet the container is a backend process it starts itself (it reads name, port, env and probes and
 * ignores the image). On the real node (`node: 'real'`) it is the `herald-lab-backend` image (images/build.sh),
 * never pulled, run as its non-root user with a read-only root filesystem, told its name and IP by the downward
 * API, with a small CPU request (a BestEffort pod gets cpu.shares 2 and stalls on a busy machine).
 */
import type { AppSpec } from './scenario';

/** The lab backend's image (images/build.sh herald-lab-backend). */
export const LAB_BACKEND_IMAGE = 'herald-lab-backend:0.1.0';
/** Per pod: small enough that the biggest scenario (40 pods plus surge) fits the node's 2 cores. */
const REAL_CPU_REQUEST = '25m';

/** An int-or-string field: a bare number stays a number, a percentage stays a string. */
const intOrPercent = (v: string) => (/^\d+$/.test(v) ? v : `"${v}"`);

export function appManifest(name: string, app: AppSpec, replicas: number, node: 'lab' | 'real' = 'lab'): string {
  const preStop = app.preStopSeconds > 0 ? `\n        lifecycle: { preStop: { sleep: { seconds: ${app.preStopSeconds} } } }` : '';
  const real =
    node === 'real'
      ? `
        imagePullPolicy: Never
        securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: [ALL] } }
        resources: { requests: { cpu: ${REAL_CPU_REQUEST}, memory: 48Mi } }`
      : '';
  const env =
    node === 'real'
      ? `[{ name: LAB_DRAIN_MS, value: "${app.drainMs}" }, { name: LAB_GRPC_PORT, value: "0" }, { name: LAB_HTTP_PORT, value: "8080" },
              { name: LAB_POD_NAME, valueFrom: { fieldRef: { fieldPath: metadata.name } } }, { name: LAB_POD_NAMESPACE, valueFrom: { fieldRef: { fieldPath: metadata.namespace } } },
              { name: LAB_NODE_NAME, valueFrom: { fieldRef: { fieldPath: spec.nodeName } } }, { name: LAB_POD_IP, valueFrom: { fieldRef: { fieldPath: status.podIP } } }]`
      : `[{ name: LAB_DRAIN_MS, value: "${app.drainMs}" }, { name: LAB_GRPC_PORT, value: "0" }]`;
  return `apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name} }
spec:
  replicas: ${replicas}
  strategy: { type: RollingUpdate, rollingUpdate: { maxSurge: ${intOrPercent(app.maxSurge)}, maxUnavailable: ${intOrPercent(app.maxUnavailable)} } }
  selector: { matchLabels: { app: ${name} } }
  template:
    metadata: { labels: { app: ${name} } }
    spec:
      terminationGracePeriodSeconds: ${app.terminationGracePeriodSeconds}
      containers:
      - name: backend
        image: ${node === 'real' ? LAB_BACKEND_IMAGE : 'herald-lab-backend'}${real}
        ports: [{ name: http, containerPort: 8080 }]
        env: ${env}
        readinessProbe: { httpGet: { path: /healthz, port: http }, periodSeconds: 1, failureThreshold: 1 }${preStop}
---
apiVersion: v1
kind: Service
metadata: { name: ${name} }
spec:
  selector: { app: ${name} }
  ports: [{ name: http, port: 80, targetPort: http }]
`;
}
