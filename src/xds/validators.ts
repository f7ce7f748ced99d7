/**
 * Checks of generated resources beyond the schema: what a client would NACK although the message is well
 * formed. Each takes a message in protobufjs `fromObject` form (already through `strict.ts`) and returns its
 * problems with paths relative to the message; empty when it is fine. They run on every resource before it
 * enters the cache (through the descriptors in resource-types.ts), whoever built it.
 */
import type { ClusterLoadAssignment } from './envoy-messages';

/**
 * What proxyless gRPC clients (grpc-js-xds) NACK in a ClusterLoadAssignment: a locality without a positive
 * load_balancing_weight, a duplicate address, a gap in priorities.
 */
export function assignmentProblems(message: ClusterLoadAssignment): string[] {
  const problems: string[] = [];
  const localities = message.endpoints ?? [];
  const seen = new Set<string>();
  const priorities = new Set<number>();
  for (let i = 0; i < localities.length; i++) {
    const l = localities[i]!;
    if (!((l.loadBalancingWeight?.value ?? 0) > 0)) problems.push(`endpoints[${i}]: locality without a positive load_balancing_weight`);
    priorities.add(l.priority ?? 0);
    const lbEndpoints = l.lbEndpoints ?? [];
    for (let j = 0; j < lbEndpoints.length; j++) {
      const a = lbEndpoints[j]!.endpoint?.address?.socketAddress;
      const key = `${a?.address}:${a?.portValue}`;
      if (seen.has(key)) problems.push(`endpoints[${i}].lbEndpoints[${j}]: duplicate address ${key}`);
      seen.add(key);
    }
  }
  const sorted = [...priorities].sort((a, b) => a - b);
  if (sorted.some((p, i) => p !== i)) problems.push(`priorities ${sorted.join(', ')} have a gap (must be 0..n without holes)`);
  return problems;
}

/** The validator of a kind without checks of its own; `M` states the kind's message type. */
export function noProblems<M>(): (message: M) => string[] {
  return () => [];
}
