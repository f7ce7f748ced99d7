/**
 * The lab's application: a Deployment of lab backends (label app=<name>) with a realistic termination, and its
 * Service (the EndpointSlice controller only publishes pods that a Service selects).
 */
import type { AppSpec } from './scenario';

/** An int-or-string field: a bare number stays a number, a percentage stays a string. */
const intOrPercent = (v: string) => (/^\d+$/.test(v) ? v : `"${v}"`);

export function appManifest(name: string, app: AppSpec, replicas: number): string {
  const preStop = app.preStopSeconds > 0 ? `\n        lifecycle: { preStop: { sleep: { seconds: ${app.preStopSeconds} } } }` : '';
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
        image: herald-lab-backend
        ports: [{ name: http, containerPort: 8080 }]
        env: [{ name: LAB_DRAIN_MS, value: "${app.drainMs}" }, { name: LAB_GRPC_PORT, value: "0" }]
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
