// Herald's dashboard: polls the admin JSON API (/status, /services, /holds, /convergence, /events, /sources) once
// a second and renders it.
// It reads nothing else and changes nothing.
'use strict';

const TYPES = ['CDS', 'EDS', 'LDS', 'RDS'];

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}

function age(iso) {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`;
}

function typeCell(t) {
  if (!t) return el('td', {}, '–');
  const label = t.state === 'STALE' && t.ageMs !== undefined ? `STALE ${Math.round(t.ageMs)} ms` : t.state === 'STALE' ? `STALE (${t.behind} behind)` : t.state;
  const cell = el('td', { 'data-state': t.state }, el('span', { class: `badge ${t.state.replace(' ', '-')}`, title: t.message || t.version }, label));
  return cell;
}

function renderProxies(status) {
  const body = document.querySelector('#proxies tbody');
  const rows = status.proxies
    .slice()
    .sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : a.streamId - b.streamId))
    .map((p) => el('tr', { 'data-node': p.nodeId }, el('td', {}, p.nodeId), el('td', {}, p.service), el('td', {}, p.protocol), el('td', {}, age(p.connectedAt)), ...TYPES.map((k) => typeCell(p.types[k]))));
  body.replaceChildren(...rows);
  document.getElementById('proxy-count').textContent = `(${status.proxies.length})`;
  const ready = document.getElementById('ready');
  ready.textContent = status.ready ? 'serving' : 'not ready';
  ready.className = `badge ${status.ready ? 'ready' : 'unready'}`;
}

function renderServices(services) {
  const body = document.querySelector('#services tbody');
  const rows = services.map((s) => {
    const count = (h) => s.endpoints.filter((e) => e.health === h).length;
    const sources = [...new Set(s.endpoints.map((e) => e.source))].sort().join(', ');
    return el('tr', { 'data-service': s.name }, el('td', {}, s.name), el('td', {}, String(count('HEALTHY') + count('UNKNOWN'))), el('td', { class: 'draining' }, String(count('DRAINING'))), el('td', {}, String(count('UNHEALTHY'))), el('td', {}, sources));
  });
  body.replaceChildren(...rows);
  document.getElementById('service-count').textContent = `(${services.length})`;
}

function renderHolds(holds) {
  const items = Object.entries(holds).flatMap(([source, list]) => list.map((h) => el('li', {}, `${source}: ${h.service}, held ${age(new Date(h.since).toISOString())}`)));
  document.getElementById('holds').replaceChildren(...(items.length ? items : [el('li', { class: 'muted' }, 'none')]));
}

function clock(iso) {
  return new Date(iso).toLocaleTimeString([], { hour12: false }) + '.' + String(new Date(iso).getMilliseconds()).padStart(3, '0');
}

function ms(x) {
  return x === undefined ? '–' : x < 1000 ? `${Math.round(x)} ms` : `${(x / 1000).toFixed(2)} s`;
}

// The per-proxy histogram (cumulative buckets from /convergence) as bars of per-bucket counts.
function renderHistogram(report) {
  const h = report.perProxy.all;
  let prev = 0;
  const bars = h.buckets.map((b) => {
    const n = b.count - prev;
    prev = b.count;
    return { le: b.le, n };
  });
  const max = Math.max(1, ...bars.map((b) => b.n));
  const label = (le) => (le === '+Inf' ? '> 30 s' : le < 1 ? `≤${Math.round(le * 1000)}ms` : `≤${le}s`);
  document.getElementById('histogram').replaceChildren(
    ...bars.map((b) =>
      el('div', { class: 'bar', 'data-le': String(b.le), 'data-count': String(b.n), title: `${b.n} observations ${label(b.le)}` }, el('span', { class: 'n' }, b.n ? String(b.n) : ''), el('div', { class: 'fill', style: `height:${(b.n / max) * 85}%` }), el('span', { class: 'le' }, label(b.le))),
    ),
  );
  const q = (p) => {
    const want = h.count * p;
    const b = h.buckets.find((x) => x.count >= want);
    return b ? label(b.le) : '–';
  };
  document.getElementById('histogram-summary').textContent = h.count ? `${h.count} ACKs observed · p50 ${q(0.5)} · p99 ${q(0.99)} · mean ${ms((h.sum / h.count) * 1000)}` : 'no ACKs observed yet';
}

function renderChanges(report) {
  const rows = report.changes.slice(0, 15).map((c) =>
    el(
      'tr',
      { 'data-change': String(c.id), 'data-kind': c.kind },
      el('td', {}, clock(c.observedAt)),
      el('td', { class: `kind ${c.kind}` }, c.kind),
      el('td', {}, c.services.length > 3 ? `${c.services.slice(0, 3).join(', ')} +${c.services.length - 3}` : c.services.join(', ')),
      el('td', {}, String(c.proxies)),
      el('td', {}, `${c.acked}${c.nacked ? ` (${c.nacked} NACK)` : ''}`),
      el('td', {}, ms(c.publishMs)),
      el('td', { class: 'last-ack' }, c.lastAckMs === undefined ? (c.complete ? '–' : 'waiting') : ms(c.lastAckMs)),
    ),
  );
  document.querySelector('#changes tbody').replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { class: 'muted', colspan: '7' }, 'no changes yet'))]));
}

function renderEvents(events) {
  const rows = events.slice(0, 15).map((e) =>
    el('tr', { 'data-kind': e.kind, 'data-service': e.service }, el('td', {}, clock(e.at)), el('td', { class: `kind ${e.kind}` }, e.kind), el('td', {}, e.source ? `${e.service} (${e.source})` : e.service), el('td', {}, e.endpoints.join(', ') + (e.count > e.endpoints.length ? ` +${e.count - e.endpoints.length}` : '') || e.detail || '')),
  );
  document.querySelector('#events tbody').replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { class: 'muted', colspan: '4' }, 'no events yet'))]));
}

function renderSources(sources) {
  const rows = sources.map((s) =>
    el(
      'tr',
      { 'data-source': s.name },
      el('td', {}, s.name),
      el('td', { 'data-synced': String(s.synced) }, el('span', { class: `badge ${s.synced ? 'SYNCED' : 'STALE'}` }, s.synced ? 'synced' : 'not synced')),
      el('td', {}, s.lastUpdateAt ? `${age(s.lastUpdateAt)} ago` : 'never'),
      el('td', {}, String(s.updates)),
      el('td', {}, String(s.errors)),
      el('td', { class: s.lastError ? 'err' : 'muted', title: s.lastError ? s.lastError.message : '' }, s.lastError ? `${age(s.lastError.at)} ago: ${s.lastError.message}` : '–'),
    ),
  );
  document.querySelector('#sources tbody').replaceChildren(...rows);
}

async function getJson(path) {
  const res = await fetch(path, { cache: 'no-store' });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return res.json();
}

async function tick() {
  try {
    const [status, services, holds, convergence, events, sources] = await Promise.all(['/status', '/services', '/holds', '/convergence?limit=15', '/events?limit=15', '/sources'].map(getJson));
    renderProxies(status);
    renderServices(services.services);
    renderHolds(holds.holds);
    renderHistogram(convergence);
    renderChanges(convergence);
    renderEvents(events.events);
    renderSources(sources.sources);
    document.getElementById('updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    document.getElementById('updated').textContent = `admin API unreachable: ${err.message}`;
  }
}

tick();
setInterval(tick, 1000);
