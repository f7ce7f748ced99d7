/**
 * The run's chart as a self-contained SVG: requests per second (2xx and failures) and ready pods over time, with
 * the scenario's events marked. Pure: data in, SVG text out.
 */
export interface ChartData {
  readonly title: string;
  /** Per-second buckets. */
  readonly okPerSecond: readonly number[];
  readonly failedPerSecond: readonly number[];
  /** Ready pods, as a step function: (seconds, count). */
  readonly readyPods: ReadonlyArray<{ readonly s: number; readonly n: number }>;
  readonly events: ReadonlyArray<{ readonly s: number; readonly label: string }>;
  /** Streams per Herald replica over time (a sample at each change); drawn in a strip below when given. */
  readonly replicaStreams?: ReadonlyArray<{ readonly s: number; readonly streams: Readonly<Record<string, number>> }>;
}

const STRIP = 90;
const REPLICA_COLOURS = ['#9333ea', '#ea580c', '#0891b2', '#65a30d', '#be185d'];

/** The strip of streams per replica: one step line per replica, on the same time axis as the main chart. */
function replicaStrip(samples: NonNullable<ChartData['replicaStreams']>, x: (s: number) => number, seconds: number, top: number): string[] {
  const names = [...new Set(samples.flatMap((p) => Object.keys(p.streams)))].sort();
  const max = Math.max(1, ...samples.flatMap((p) => Object.values(p.streams)));
  const h = STRIP - 30;
  const y = (v: number) => top + h - (v / max) * h;
  const out = [
    `<line x1="${PAD.l}" y1="${top + h}" x2="${W - PAD.r}" y2="${top + h}" stroke="#333"/>`,
    `<text x="${PAD.l - 6}" y="${top + 4}" text-anchor="end">${max}</text><text x="${PAD.l - 6}" y="${top + h}" text-anchor="end">0</text>`,
    `<text x="${PAD.l}" y="${top + h + 14}">streams per Herald replica:</text>`,
  ];
  names.forEach((name, i) => {
    const colour = REPLICA_COLOURS[i % REPLICA_COLOURS.length]!;
    let d = '';
    samples.forEach((p, j) => {
      const v = p.streams[name] ?? 0;
      d += j === 0 ? `M${x(p.s).toFixed(1)},${y(v).toFixed(1)}` : ` H${x(p.s).toFixed(1)} V${y(v).toFixed(1)}`;
    });
    d += ` H${x(seconds).toFixed(1)}`;
    out.push(`<path d="${d}" fill="none" stroke="${colour}" stroke-width="1.5" transform="translate(0,${-i})"/>`);
    out.push(`<line x1="${PAD.l + 150 + i * 60}" y1="${top + h + 10}" x2="${PAD.l + 166 + i * 60}" y2="${top + h + 10}" stroke="${colour}" stroke-width="2"/><text x="${PAD.l + 170 + i * 60}" y="${top + h + 14}">${esc(name)}</text>`);
  });
  return out;
}

const W = 960;
const H = 360;
const PAD = { l: 56, r: 56, t: 40, b: 40 };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function renderChart(d: ChartData): string {
  const seconds = Math.max(1, d.okPerSecond.length, ...d.readyPods.map((p) => Math.ceil(p.s)), ...d.events.map((e) => Math.ceil(e.s)));
  const maxRate = Math.max(1, ...d.okPerSecond.map((v, i) => v + (d.failedPerSecond[i] ?? 0)));
  const maxPods = Math.max(1, ...d.readyPods.map((p) => p.n));
  const x = (s: number) => PAD.l + (s / seconds) * (W - PAD.l - PAD.r);
  const yRate = (v: number) => H - PAD.b - (v / maxRate) * (H - PAD.t - PAD.b);
  const yPods = (v: number) => H - PAD.b - (v / maxPods) * (H - PAD.t - PAD.b);
  const line = (vals: readonly number[]) => vals.map((v, i) => `${i === 0 ? 'M' : 'L'}${x(i + 0.5).toFixed(1)},${yRate(v).toFixed(1)}`).join(' ');
  let pods = '';
  d.readyPods.forEach((p, i) => {
    pods += i === 0 ? `M${x(p.s).toFixed(1)},${yPods(p.n).toFixed(1)}` : ` H${x(p.s).toFixed(1)} V${yPods(p.n).toFixed(1)}`;
  });
  if (d.readyPods.length > 0) pods += ` H${x(seconds).toFixed(1)}`;
  const ticks = Array.from({ length: 6 }, (_, i) => Math.round((i * seconds) / 5));
  const height = H + (d.replicaStreams?.length ? STRIP : 0);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${height}" fill="white"/>`,
    `<text x="${PAD.l}" y="20" font-size="14" font-weight="bold">${esc(d.title)}</text>`,
    `<line x1="${PAD.l}" y1="${H - PAD.b}" x2="${W - PAD.r}" y2="${H - PAD.b}" stroke="#333"/>`,
    `<line x1="${PAD.l}" y1="${PAD.t}" x2="${PAD.l}" y2="${H - PAD.b}" stroke="#333"/>`,
    `<line x1="${W - PAD.r}" y1="${PAD.t}" x2="${W - PAD.r}" y2="${H - PAD.b}" stroke="#333"/>`,
    ...ticks.map((s) => `<text x="${x(s)}" y="${H - PAD.b + 14}" text-anchor="middle">${s}s</text>`),
    `<text x="${PAD.l - 6}" y="${PAD.t + 4}" text-anchor="end">${maxRate}</text><text x="${PAD.l - 6}" y="${H - PAD.b}" text-anchor="end">0</text>`,
    `<text x="${W - PAD.r + 6}" y="${PAD.t + 4}">${maxPods}</text><text x="${W - PAD.r + 6}" y="${H - PAD.b}">0</text>`,
    `<text x="14" y="${H / 2}" transform="rotate(-90 14 ${H / 2})" text-anchor="middle">requests / s</text>`,
    `<text x="${W - 10}" y="${H / 2}" transform="rotate(90 ${W - 10} ${H / 2})" text-anchor="middle">ready pods</text>`,
    ...d.events.map(
      (e, i) =>
        `<line x1="${x(e.s)}" y1="${PAD.t}" x2="${x(e.s)}" y2="${H - PAD.b}" stroke="#999" stroke-dasharray="4 3"/>` +
        `<text x="${x(e.s) + 3}" y="${PAD.t + 10 + (i % 4) * 12}" fill="#555">${esc(e.label)}</text>`,
    ),
    `<path d="${pods}" fill="none" stroke="#2563eb" stroke-width="1.5"/>`,
    `<path d="${line(d.okPerSecond)}" fill="none" stroke="#16a34a" stroke-width="1.5"/>`,
    `<path d="${line(d.failedPerSecond)}" fill="none" stroke="#dc2626" stroke-width="2"/>`,
    `<g transform="translate(${W - PAD.r - 220},${PAD.t - 26})"><rect width="220" height="16" fill="white"/>` +
      `<line x1="0" y1="8" x2="16" y2="8" stroke="#16a34a" stroke-width="2"/><text x="20" y="12">2xx/s</text>` +
      `<line x1="64" y1="8" x2="80" y2="8" stroke="#dc2626" stroke-width="2"/><text x="84" y="12">failed/s</text>` +
      `<line x1="140" y1="8" x2="156" y2="8" stroke="#2563eb" stroke-width="2"/><text x="160" y="12">ready pods</text></g>`,
    ...(d.replicaStreams?.length ? replicaStrip(d.replicaStreams, x, seconds, H + 10) : []),
    '</svg>',
  ];
  return parts.join('\n') + '\n';
}
