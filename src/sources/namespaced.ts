/**
 * Registry and file services have no namespace of their own: this wrapper maps a source's service names into one
 * (`legacy-api` → `default/legacy-api`). A name that already has one (`team-a/web`, the file may say so) is kept.
 * SourceService objects pass through unchanged, so the stages downstream still skip unchanged services by identity.
 */
import { serviceId } from '../model/names';
import type { Source, SourceSink, SourceSnapshot } from './source';

export function inNamespace(source: Source, namespace: string): Source {
  const map = (snapshot: SourceSnapshot): SourceSnapshot => {
    const out = new Map<string, SourceSnapshot extends ReadonlyMap<string, infer V> ? V : never>();
    for (const [name, svc] of snapshot) out.set(name.includes('/') ? name : serviceId(namespace, name), svc);
    return out;
  };
  return {
    name: source.name,
    start: (sink: SourceSink) => source.start({ update: (name, snapshot, synced, meta) => sink.update(name, map(snapshot), synced, meta) }),
    stop: () => source.stop(),
  };
}
