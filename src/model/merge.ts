/**
 * Merges the snapshots of all sources into one Mesh. Per service, the union of every source's endpoints keyed by
 * address:port. When two sources name the same address:port, the source listed first in the configuration wins
 * (its health, zone and weight are used); each endpoint records which source it came from. Policies merge the
 * same way, first source first, and the policy file's entry for the service wins over all of them. A service can
 * so move from VMs to pods host by host.
 *
 * The Merger remembers its inputs: a service whose source entries are all the same objects as last time keeps its
 * Service object, so downstream stages can skip it by identity.
 */
import type { SourceService, SourceSnapshot } from '../sources/source';
import { compareEndpoints, endpointKey, type Endpoint, type Mesh, type Service } from './types';
import { mergeOverrides, type PolicyOverrides } from './policy';
import { byServiceId } from './names';

export class Merger {
  private readonly memo = new Map<string, { inputs: (SourceService | undefined)[]; service: Service }>();

  /** @param policies per-service overrides from the policy file, keyed `<namespace>/<name>` or by a bare name (every namespace); they win over what sources say. */
  constructor(
    private readonly order: readonly string[],
    private readonly policies: ReadonlyMap<string, PolicyOverrides> = new Map(),
  ) {}

  merge(snapshots: ReadonlyMap<string, SourceSnapshot>): Mesh {
    const names = new Set<string>();
    for (const source of this.order) for (const name of snapshots.get(source)?.keys() ?? []) names.add(name);
    const services = new Map<string, Service>();
    for (const name of [...names].sort()) {
      const inputs = this.order.map((s) => snapshots.get(s)?.get(name));
      const prev = this.memo.get(name);
      if (prev && prev.inputs.length === inputs.length && prev.inputs.every((x, i) => x === inputs[i])) {
        services.set(name, prev.service);
        continue;
      }
      const service = mergeService(name, inputs, byServiceId(this.policies, name));
      this.memo.set(name, { inputs, service });
      services.set(name, service);
    }
    for (const name of this.memo.keys()) if (!names.has(name)) this.memo.delete(name);
    return { services };
  }
}

function mergeService(name: string, inputs: readonly (SourceService | undefined)[], filePolicy: PolicyOverrides | undefined): Service {
  const eps = new Map<string, Endpoint>();
  let policy: SourceService['policy'];
  for (const svc of inputs) {
    if (!svc) continue;
    for (const e of svc.endpoints) {
      const k = endpointKey(e);
      if (!eps.has(k)) eps.set(k, e);
    }
    policy ??= svc.policy;
  }
  return { name, endpoints: [...eps.values()].sort(compareEndpoints), policy: filePolicy ? mergeOverrides(policy, filePolicy) : (policy ?? {}) };
}

/** One-shot merge (tests, tools). */
export function mergeSources(order: readonly string[], snapshots: ReadonlyMap<string, SourceSnapshot>): Mesh {
  return new Merger(order).merge(snapshots);
}
