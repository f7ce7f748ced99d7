// Herald's dashboard: polls the admin JSON API (/status, /services, /holds) once a second and renders it.
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

async function getJson(path) {
  const res = await fetch(path, { cache: 'no-store' });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return res.json();
}

async function tick() {
  try {
    const [status, services, holds] = await Promise.all([getJson('/status'), getJson('/services'), getJson('/holds')]);
    renderProxies(status);
    renderServices(services.services);
    renderHolds(holds.holds);
    document.getElementById('updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    document.getElementById('updated').textContent = `admin API unreachable: ${err.message}`;
  }
}

tick();
setInterval(tick, 1000);
