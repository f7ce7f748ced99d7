/**
 * The dashboard (/ui) in a real headless Chromium (Debian's, driven by playwright-core): the page loads, shows a
 * connected real Envoy as SYNCED on every type, and shows an endpoint edit (a DRAINING endpoint) within a second:
 * in the services table, as a drain in the recent changes with its last-ACK time (the one /convergence reports),
 * in the convergence histogram and in the recent events; the file source shows as synced. A screenshot is saved
 * as a test artefact (test-results/dashboard.png; docs/img/dashboard.png is a copy of it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chromium } from 'playwright-core';
import { startTestHerald, type ServiceSpec } from '../support/herald';
import { startTestEnvoy } from '../support/envoy';
import { repoRoot } from '../support/repo';

const CHROMIUM = '/usr/bin/chromium';
const web = (health = 'HEALTHY'): ServiceSpec[] => [
  { name: 'web', endpoints: [{ address: '127.0.0.1', port: 9, zone: 'z1', health }, { address: '127.0.0.2', port: 9, zone: 'z1' }] },
  { name: 'api', endpoints: [{ address: '127.0.0.3', port: 9, zone: 'z1' }] },
];

test('dashboard in real Chromium: a real Envoy shows SYNCED, a drain shows within a second', { skip: !fs.existsSync(CHROMIUM) && `${CHROMIUM} missing (make test installs it)` }, async (t) => {
  const h = await startTestHerald(web());
  const envoy = await startTestEnvoy({ xdsPort: h.xdsPort, protocol: 'delta', nodeId: 'envoy-dashboard', zone: 'z1' });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    // Playwright gives the browser a fresh, empty profile; the flags keep it off the (closed) network.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.after(async () => {
    await browser.close();
    await envoy.stop();
    await h.stop();
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 640 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`http://127.0.0.1:${h.adminPort}/ui/`);
  assert.equal(await page.title(), 'Herald');

  const row = page.locator('#proxies tr[data-node="envoy-dashboard"]');
  await row.waitFor({ timeout: 15_000 });
  const states = () => row.locator('td[data-state]').evaluateAll((cells) => cells.map((c) => c.getAttribute('data-state')).join(','));
  await waitUntil(async () => (await states()) === 'SYNCED,SYNCED,SYNCED,SYNCED', 15_000);
  assert.equal(await page.locator('#ready').textContent(), 'serving');
  assert.equal(await page.locator('#services tr[data-service="default/web"] td.draining').textContent(), '0');

  h.writeServices(web('DRAINING'));
  // The file source serves the edit once it is stable (its settle delay); from then the page must show it within a second.
  await waitUntil(async () => (await h.adminGet('/services')).services.find((s: any) => s.name === 'default/web').endpoints.some((e: any) => e.health === 'DRAINING'), 10_000);
  const served = Date.now();
  const draining = page.locator('#services tr[data-service="default/web"] td.draining');
  // The page polls once a second: the drain must show within that and a render (waitUntil throws past 1.5 s).
  await waitUntil(async () => (await draining.textContent()) === '1', 1500);
  const shownAfterMs = Date.now() - served;

  // The drain as a change with the last proxy's ACK time, exactly as /convergence reports it.
  const change = await waitForValue(async () => {
    const c = (await h.adminGet('/convergence')).changes.find((x: any) => x.kind === 'drain' && x.complete);
    return c;
  }, 5000);
  const changeRow = page.locator(`#changes tr[data-change="${change.id}"]`);
  await changeRow.waitFor({ timeout: 1500 });
  assert.equal(await changeRow.locator('td.last-ack').textContent(), `${change.lastAckMs} ms`);
  assert.equal(await changeRow.locator('td').nth(2).textContent(), 'default/web');
  const histogramCount = () => page.locator('#histogram .bar').evaluateAll((bars) => bars.reduce((n, b) => n + Number(b.getAttribute('data-count')), 0));
  const observed = (await h.adminGet('/convergence')).perProxy.all.count;
  await waitUntil(async () => (await histogramCount()) === observed, 1500);
  assert.ok(observed > 0);
  await page.locator('#events tr[data-kind="drain"][data-service="default/web"]').waitFor({ timeout: 1500 });
  assert.match(await page.locator('#events tr[data-kind="drain"] td').nth(3).textContent() ?? '', /127\.0\.0\.1:9/);
  assert.equal(await page.locator('#sources tr[data-source="file"] td[data-synced]').getAttribute('data-synced'), 'true');

  const out = path.join(repoRoot(), 'test-results');
  fs.mkdirSync(out, { recursive: true });
  await page.screenshot({ path: path.join(out, 'dashboard.png'), fullPage: true });
  assert.deepEqual(errors, [], 'no script errors on the page');
  t.diagnostic(`drain shown ${shownAfterMs} ms after it was published; screenshot test-results/dashboard.png`);
});

async function waitForValue<T>(probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function waitUntil(probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}
