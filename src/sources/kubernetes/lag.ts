/**
 * Informer lag: how long after the apiserver stamped a change its watch event reached Herald. Kubernetes gives
 * a time only in some objects, at one-second resolution:
 *   - a pod being deleted: `deletionTimestamp − deletionGracePeriodSeconds` is when the delete was accepted;
 *   - otherwise the newest `metadata.managedFields[].time` (when a field manager last wrote the object; the
 *     kubelet's status updates and controllers' writes carry it).
 * Objects with neither (or a time in the future, clock skew) are not observed. The resolution makes this a
 * coarse signal (0–1 s of error): it shows a watch falling seconds or minutes behind, not milliseconds.
 */
import type { Histogram, Metrics } from '../../admin/metrics';

/** The lag histogram, declared in `m` (the same handle for every informer of one instance). */
export function informerLagHistogram(m: Metrics): Histogram {
  return m.histogram(
    'herald_kube_informer_lag_seconds',
    'Watch event arrival minus the time Kubernetes stamped the change (deletion accepted, or newest managedFields time; 1 s resolution), by informer',
    ['informer'],
    [0.5, 1, 2, 5, 10, 30, 60, 300],
  );
}

/** The time (epoch ms) Kubernetes stamped the latest change of `obj`, if it gives one. */
export function changeStamp(obj: any): number | undefined {
  const md = obj?.metadata;
  if (!md) return undefined;
  if (typeof md.deletionTimestamp === 'string') {
    const t = Date.parse(md.deletionTimestamp);
    const grace = Number(md.deletionGracePeriodSeconds ?? 0);
    if (Number.isFinite(t)) return t - (Number.isFinite(grace) ? grace : 0) * 1000;
  }
  let newest: number | undefined;
  for (const f of Array.isArray(md.managedFields) ? md.managedFields : []) {
    const t = typeof f?.time === 'string' ? Date.parse(f.time) : NaN;
    if (Number.isFinite(t) && (newest === undefined || t > newest)) newest = t;
  }
  return newest;
}

/** Observes one watch event's lag (ADDED/MODIFIED/DELETED) into `lag` (informerLagHistogram); `arrival` is epoch ms. */
export function observeInformerLag(lag: Histogram, informer: string, type: string, obj: unknown, arrival: number): void {
  if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED') return;
  const stamp = changeStamp(obj);
  if (stamp === undefined) return;
  // Seconds resolution: a stamp up to 1 s "after" arrival is rounding; more is clock skew, not observed.
  const ms = arrival - stamp;
  if (ms < -1000) return;
  lag.observe(Math.max(0, ms) / 1000, { informer });
}
