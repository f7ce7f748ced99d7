/**
 * Node identity under mTLS: what a client certificate proves, what a node claims, and whether they agree.
 *
 * The claim of a node (set by `herald bootstrap`): its namespace is the node metadata `HERALD_NAMESPACE`, its
 * service is `node.cluster`. The certificate proves an identity by one of its subject alternative names:
 *   - a SPIFFE URI `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`: agrees when the namespace is
 *     the claimed namespace and the service account is the claimed service (and, if a trust domain is
 *     configured, the trust domain is that one);
 *   - a DNS name `<service>.<namespace>.svc` (optionally followed by a cluster domain, `.cluster.local`): agrees
 *     when both labels are the claimed ones.
 * Anything else (no SAN of either form, or none agreeing) is a mismatch. Pure functions; no I/O.
 */
import type { PeerCertificate } from 'node:tls';
import type { NodeInfo } from './codec';

/** Node metadata key carrying the namespace a node claims. */
export const NODE_NAMESPACE_META = 'HERALD_NAMESPACE';

export interface CertIdentity {
  readonly spiffe: ReadonlyArray<{ readonly trustDomain: string; readonly namespace: string; readonly serviceAccount: string }>;
  readonly dns: readonly string[];
  /** Every URI SAN, for messages. */
  readonly uris: readonly string[];
}

export interface NodeClaim {
  readonly namespace: string;
  readonly service: string;
}

const SPIFFE = /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/;

/** Parses Node's `subjectaltname` ("DNS:a, URI:spiffe://…, IP Address:…"); values may be quoted JSON strings. */
export function certIdentity(cert: Pick<PeerCertificate, 'subjectaltname'> | undefined): CertIdentity {
  const spiffe: Array<CertIdentity['spiffe'][number]> = [];
  const dns: string[] = [];
  const uris: string[] = [];
  for (const part of splitSans(cert?.subjectaltname ?? '')) {
    const i = part.indexOf(':');
    if (i < 0) continue;
    const kind = part.slice(0, i);
    let value = part.slice(i + 1);
    if (value.startsWith('"')) {
      try {
        value = JSON.parse(value);
      } catch {
        continue;
      }
    }
    if (kind === 'DNS') dns.push(value.toLowerCase());
    else if (kind === 'URI') {
      uris.push(value);
      const m = SPIFFE.exec(value);
      if (m) {
        // A malformed escape in a SAN is not an identity (skipped), not an internal error.
        const decode = (x: string): string | undefined => {
          try {
            return decodeURIComponent(x);
          } catch {
            return undefined;
          }
        };
        const namespace = decode(m[2]!);
        const serviceAccount = decode(m[3]!);
        if (namespace !== undefined && serviceAccount !== undefined) spiffe.push({ trustDomain: m[1]!, namespace, serviceAccount });
      }
    }
  }
  return { spiffe, dns, uris };
}

/** Splits on ", " outside quotes (Node quotes SAN values that contain commas). */
function splitSans(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '"' && s[i - 1] !== '\\') quoted = !quoted;
    if (!quoted && c === ',' && s[i + 1] === ' ') {
      out.push(cur);
      cur = '';
      i++;
      continue;
    }
    cur += c;
  }
  if (cur) out.push(cur);
  return out;
}

export function nodeClaim(node: NodeInfo): NodeClaim {
  const ns = node.metadata[NODE_NAMESPACE_META];
  return { namespace: typeof ns === 'string' ? ns : '', service: node.cluster };
}

/** Undefined when the certificate backs the claim; otherwise why not (for the log line and the gRPC status). */
export function identityProblem(id: CertIdentity, claim: NodeClaim, trustDomain = ''): string | undefined {
  if (!claim.namespace || !claim.service) {
    return `node must claim a namespace (metadata ${NODE_NAMESPACE_META}) and a service (node.cluster); got namespace ${JSON.stringify(claim.namespace)}, cluster ${JSON.stringify(claim.service)}`;
  }
  for (const s of id.spiffe) {
    if (trustDomain && s.trustDomain !== trustDomain) continue;
    if (s.namespace === claim.namespace && s.serviceAccount === claim.service) return undefined;
  }
  const prefix = `${claim.service}.${claim.namespace}.svc`.toLowerCase();
  for (const d of id.dns) if (d === prefix || d.startsWith(`${prefix}.`)) return undefined;
  const shown = [...id.uris.map((u) => `URI:${u}`), ...id.dns.map((d) => `DNS:${d}`)].join(', ') || 'no URI or DNS SAN';
  return `certificate (${shown}) does not match the claimed service ${JSON.stringify(claim.service)} in namespace ${JSON.stringify(claim.namespace)}${trustDomain ? ` (trust domain ${trustDomain})` : ''}`;
}
