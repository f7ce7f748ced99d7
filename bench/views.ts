/**
 * Views a client cannot multiply: RSS of the server while 800 streams each state a different zone, on a
 * 20 services × 1,000 endpoints mesh (endpoints in three zones), against the same server when those zones were
 * all known (each a real view: measured on a smaller count and extrapolated per view, so the run stays small).
 *
 *   node dist/bench/views.js [--quick]
 */
import { gc, meshOf, note, parseArgs, printTable, reportResult, service, sleep } from './common';
import { LoadClient, startServer } from './harness';

const MB = 1024 * 1024;

async function rssAfterGc(): Promise<number> {
  gc();
  await sleep(200);
  gc();
  return process.memoryUsage.rss();
}

async function run(streams: number, knownZones: readonly string[]): Promise<{ base: number; after: number; views: number; connectMs: number }> {
  const mesh = meshOf(Array.from({ length: 20 }, (_, i) => service(i, 1000)));
  const server = await startServer(mesh, { zones: knownZones, maxViews: 10_000 });
  const client = new LoadClient();
  try {
    const base = await rssAfterGc();
    const { ms } = await client.connect(server.port, 'sotw', streams, 20, 0, 'liar-zone-');
    const after = await rssAfterGc();
    return { base, after, views: server.views.views().length, connectMs: ms };
  } finally {
    await client.close();
    await server.close();
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const liars = args.quick ? 200 : 800;
  const honest = args.quick ? 10 : 40;
  const bounded = await run(liars, []);
  const known = await run(honest, Array.from({ length: honest }, (_, i) => `liar-zone-${i}`));
  const perView = (known.after - known.base) / known.views;
  const extrapolated = known.base + perView * liars;
  printTable(
    `Views under distinct stated zones (20 services × 1,000 endpoints, SotW, one stream per proxy)`,
    ['case', 'streams', 'views', 'RSS before', 'RSS after', 'connect'],
    [
      [`${liars} proxies, ${liars} unknown zones`, String(liars), String(bounded.views), `${(bounded.base / MB).toFixed(0)} MB`, `${(bounded.after / MB).toFixed(0)} MB`, `${bounded.connectMs.toFixed(0)} ms`],
      [`${honest} proxies, ${honest} known zones`, String(honest), String(known.views), `${(known.base / MB).toFixed(0)} MB`, `${(known.after / MB).toFixed(0)} MB`, `${known.connectMs.toFixed(0)} ms`],
    ],
  );
  note(`one view costs about ${(perView / MB).toFixed(1)} MB here; ${liars} views would be about ${(extrapolated / MB).toFixed(0)} MB (the unbounded behaviour)`);
  await reportResult({
    bench: 'views',
    summary: [[`RSS, ${liars} distinct-zone proxies`, `${(bounded.after / MB).toFixed(0)} MB`, `${liars} views (extrapolated)`, `${(extrapolated / bounded.after).toFixed(1)}× less`]],
    data: { bounded, known, perViewBytes: perView },
  });
}

void main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exit(1);
  },
);
