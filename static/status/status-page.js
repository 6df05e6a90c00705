// Switchyard's status page: polls the gateway's own JSON API once a second and redraws. Every
// string from the gateway (names, reasons, routes, node and rollout fields) goes into the page as
// text (textContent / text nodes), never as markup. Read-only: it only sends GETs.
'use strict';

const POLL_MS = 1000;
/** Rates, error rates and p99 are taken between now and the snapshot about this long ago. */
const WINDOW_MS = 5000;
const KEY_STORAGE = 'switchyard.apiKey';
const DURATION_BUCKET = 'switchyard_request_duration_seconds_bucket';
const QUEUE_DEPTH = 'switchyard_queue_depth';

let apiKey = sessionStorage.getItem(KEY_STORAGE) || '';
/** Snapshots of every version's counters, oldest first: { t, versions: Map<key, Sample> }. */
const history = [];

const $ = (id) => document.getElementById(id);

/** An element with fixed attributes and children; strings become text nodes (never parsed). */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value !== undefined && value !== null) node.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(typeof child === 'string' || typeof child === 'number' ? document.createTextNode(String(child)) : child);
  }
  return node;
}

function headers() {
  return apiKey ? { 'x-api-key': apiKey } : {};
}

async function get(path, as) {
  const response = await fetch(path, { headers: headers(), cache: 'no-store', credentials: 'omit' });
  if (!response.ok) return { status: response.status, body: undefined };
  return { status: response.status, body: as === 'text' ? await response.text() : await response.json() };
}

const versionKey = (model, version) => model + '\u0000' + version;

// ---- /metrics: latency histogram buckets and queue depths per (model, version) ----

function unescapeLabel(value) {
  return value.replace(/\\(["\\n])/g, (_, c) => (c === 'n' ? '\n' : c));
}

function parseLabels(text) {
  const labels = {};
  const pattern = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  let match;
  while ((match = pattern.exec(text)) !== null) labels[match[1]] = unescapeLabel(match[2]);
  return labels;
}

/** { buckets: Map<key, Map<le, count>>, depths: Map<key, number> } summed over protocols and statuses. */
function parseMetrics(text) {
  const buckets = new Map();
  const depths = new Map();
  for (const line of text.split('\n')) {
    const isBucket = line.startsWith(DURATION_BUCKET + '{');
    if (!isBucket && !line.startsWith(QUEUE_DEPTH + '{')) continue;
    const close = line.lastIndexOf('}');
    const labels = parseLabels(line.slice(line.indexOf('{') + 1, close));
    const value = Number(line.slice(close + 1).trim().split(/\s+/)[0]);
    if (!labels.model || labels.version === undefined || !Number.isFinite(value)) continue;
    const key = versionKey(labels.model, labels.version);
    if (isBucket) {
      const le = labels.le === '+Inf' ? Infinity : Number(labels.le);
      let byLe = buckets.get(key);
      if (!byLe) buckets.set(key, (byLe = new Map()));
      byLe.set(le, (byLe.get(le) || 0) + value);
    } else {
      depths.set(key, (depths.get(key) || 0) + value);
    }
  }
  return { buckets, depths };
}

/** The 99th percentile (seconds) of the requests between two cumulative histograms, interpolated in its bucket. */
function p99Between(now, before) {
  if (!now) return undefined;
  const bounds = [...now.keys()].sort((a, b) => a - b);
  const delta = bounds.map((le) => Math.max(0, (now.get(le) || 0) - ((before && before.get(le)) || 0)));
  const total = delta[delta.length - 1];
  if (!total) return undefined;
  const rank = total * 0.99;
  for (let i = 0; i < bounds.length; i++) {
    if (delta[i] >= rank) {
      if (bounds[i] === Infinity) return { seconds: bounds[i - 1] ?? 0, above: true };
      const lower = i === 0 ? 0 : bounds[i - 1];
      const below = i === 0 ? 0 : delta[i - 1];
      const inBucket = delta[i] - below;
      const fraction = inBucket > 0 ? (rank - below) / inBucket : 1;
      return { seconds: lower + (bounds[i] - lower) * fraction, above: false };
    }
  }
  return undefined;
}

// ---- the snapshot window ----

function sampleOf(stats) {
  const rejected = (stats && stats.rejected) || {};
  const queueFull = rejected.queue_full || 0;
  return {
    requests: (stats && stats.requests) || 0,
    attempts: ((stats && stats.requests) || 0) + queueFull,
    errors: ((stats && stats.failures) || 0) + queueFull + (rejected.deadline || 0),
  };
}

function remember(snapshot) {
  history.push(snapshot);
  while (history.length > 2 && history[1].t <= snapshot.t - WINDOW_MS) history.shift();
}

function windowFigures(key) {
  const now = history[history.length - 1];
  const then = history[0];
  const current = now.versions.get(key);
  const p99 = p99Between(now.buckets.get(key), then === now ? undefined : then.buckets.get(key));
  if (!current || then === now) return { p99 };
  const old = then.versions.get(key) || { requests: 0, attempts: 0, errors: 0 };
  const seconds = (now.t - then.t) / 1000;
  // A counter that went down (a restarted loop) starts the window afresh.
  const requests = current.requests >= old.requests ? current.requests - old.requests : current.requests;
  const attempts = current.attempts >= old.attempts ? current.attempts - old.attempts : current.attempts;
  const errors = current.errors >= old.errors ? current.errors - old.errors : current.errors;
  return { rate: seconds > 0 ? requests / seconds : undefined, errorRate: attempts > 0 ? errors / attempts : undefined, p99 };
}

// ---- routes ----

/** A target's versions and shares: "2:90,3:10" -> [{version 2, share .9}, ...]; "3" -> [{3, 1}]; an alias name -> []. */
function splitOf(target) {
  if (!/^\d+(:\d+)?(,\d+(:\d+)?)*$/.test(target)) return [];
  const parts = target.split(',').map((part) => {
    const [version, weight] = part.split(':');
    return { version: Number(version), weight: weight === undefined ? 1 : Number(weight) };
  });
  const sum = parts.reduce((total, part) => total + part.weight, 0);
  return parts.map((part) => ({ version: part.version, share: sum > 0 ? part.weight / sum : 0 }));
}

/** Alias -> [{version, share}], following one level of alias (as the router does). */
function routeShares(routes) {
  const shares = {};
  for (const [alias, target] of Object.entries(routes || {})) {
    if (alias === 'shadow') continue;
    const direct = splitOf(String(target));
    shares[alias] = direct.length > 0 ? direct : splitOf(String(routes[target] ?? ''));
  }
  return shares;
}

// ---- rendering ----

/** A bar as wide as a version's share of `default` (styled through the CSSOM, which the CSP allows). */
function shareBar(share) {
  const bar = el('span', { class: 'bar', 'data-share': share.toFixed(3) });
  bar.style.width = Math.max(2, Math.round(share * 60)) + 'px';
  return bar;
}

function text(value) {
  if (value === undefined || value === null) return '';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

const percent = (fraction) => (fraction * 100).toFixed(fraction > 0 && fraction < 0.1 ? 1 : 0) + ' %';

function formatP99(p99) {
  if (!p99) return '–';
  const ms = p99.seconds * 1000;
  return (p99.above ? '> ' : '') + (ms < 10 ? ms.toFixed(2) : ms.toFixed(0)) + ' ms';
}

function renderModel(detail) {
  const shares = routeShares(detail.routes);
  const routeChips = Object.entries(detail.routes || {}).map(([alias, target]) =>
    el('span', { class: 'route', 'data-alias': alias }, el('b', {}, alias), ' → ', el('span', { class: 'mono' }, text(target))),
  );
  const rows = (detail.versions || []).map((version) => {
    const key = versionKey(detail.name, version.version);
    const figures = windowFigures(key);
    const latest = history[history.length - 1];
    // Without /metrics (METRICS_ENABLED=false) there is no depth to show; with it, no series is an empty queue.
    const depth = latest.metrics ? String(latest.depths.get(key) ?? 0) : '–';
    const routedBy = Object.entries(shares)
      .flatMap(([alias, split]) => split.filter((s) => s.version === version.version).map((s) => alias + (s.share < 1 ? ' ' + percent(s.share) : '')))
      .join(', ');
    const defaultShare = (shares.default || []).find((s) => s.version === version.version);
    return el(
      'tr',
      { 'data-model': detail.name, 'data-version': version.version, 'data-state': version.state },
      el('td', { class: 'num' }, String(version.version)),
      el('td', { class: 'status' }, el('span', { class: 'state state-' + String(version.state).replace(/[^A-Z_]/g, '') }, text(version.state))),
      el('td', { class: 'routed' }, defaultShare ? shareBar(defaultShare.share) : '', routedBy),
      el('td', { class: 'num rate' }, figures.rate === undefined ? '–' : figures.rate.toFixed(1)),
      el('td', { class: 'num p99' }, formatP99(figures.p99)),
      el('td', { class: 'num errors' }, figures.errorRate === undefined ? '–' : percent(figures.errorRate)),
      el('td', { class: 'num queue' }, depth),
      el('td', { class: 'reason' }, text(version.reason)),
    );
  });
  return el(
    'article',
    { class: 'model', 'data-model': detail.name },
    el('h3', {}, detail.name),
    routeChips.length > 0 ? el('div', { class: 'routes' }, routeChips) : el('div', { class: 'routes muted' }, 'no routes: default is latest'),
    detail.config_error ? el('p', { class: 'reason config-error' }, 'config.json refused: ' + text(detail.config_error)) : null,
    el(
      'table',
      {},
      el('thead', {}, el('tr', {}, ['version', 'state', 'routed by', 'req/s', 'p99', 'errors', 'queue', 'reason'].map((h, i) => el('th', { class: i === 0 || (i >= 3 && i <= 6) ? 'num' : undefined }, h)))),
      el('tbody', {}, rows),
    ),
  );
}

/** A table of objects whose fields are not known in advance (nodes, rollouts, shadow results). */
function objectTable(items, first) {
  const columns = [];
  for (const column of first) if (items.some((item) => item && column in item)) columns.push(column);
  for (const item of items) for (const column of Object.keys(item || {})) if (!columns.includes(column)) columns.push(column);
  return el(
    'table',
    {},
    el('thead', {}, el('tr', {}, columns.map((column) => el('th', {}, column)))),
    el(
      'tbody',
      {},
      items.map((item) =>
        el(
          'tr',
          {},
          columns.map((column) => {
            const value = item ? item[column] : undefined;
            if (Array.isArray(value) && value.length > 0 && value.every((v) => v && typeof v === 'object' && !Array.isArray(v))) {
              return el('td', {}, el('details', {}, el('summary', {}, value.length + ' rows'), objectTable(value, [])));
            }
            return el('td', { class: 'reason' }, text(value));
          }),
        ),
      ),
    ),
  );
}

function listOf(body, field) {
  if (Array.isArray(body)) return body;
  if (body && Array.isArray(body[field])) return body[field];
  if (body && typeof body === 'object') return Object.entries(body).map(([name, value]) => (value && typeof value === 'object' ? { [field.replace(/s$/, '')]: name, ...value } : { name, value }));
  return [];
}

function renderOptional(sectionId, targetId, items, first, absentNote) {
  const section = $(sectionId);
  const target = $(targetId);
  section.setAttribute('data-available', items.length > 0 ? 'true' : 'false');
  if (items.length === 0) {
    target.className = 'muted';
    target.replaceChildren(el('span', {}, 'none', absentNote ? ' (' + absentNote + ')' : null));
  } else {
    target.className = '';
    target.replaceChildren(objectTable(items, first));
  }
}

function showProblem(message) {
  const problem = $('problem');
  problem.hidden = !message;
  problem.textContent = message || '';
}

// ---- the poll ----

async function poll() {
  const list = await get('/models');
  if (list.status === 401) {
    $('auth').hidden = false;
    showProblem(apiKey ? 'the API key was refused' : 'an API key is required');
    return;
  }
  if (!list.body) {
    showProblem('GET /models answered ' + list.status);
    return;
  }
  $('auth').hidden = true;
  const names = (list.body.models || []).map((model) => model.name);
  const [details, metrics, cluster, rollouts] = await Promise.all([
    Promise.all(names.map((name) => get('/models/' + encodeURIComponent(name)).then((r) => r.body, () => undefined))),
    get('/metrics', 'text').then((r) => r.body, () => undefined),
    get('/cluster').catch(() => ({ status: 0 })),
    get('/admin/rollouts').catch(() => ({ status: 0 })),
  ]);
  const present = details.filter(Boolean);
  const parsed = parseMetrics(metrics || '');
  const versions = new Map();
  for (const detail of present) for (const version of detail.versions || []) versions.set(versionKey(detail.name, version.version), sampleOf(version.stats));
  remember({ t: performance.now(), versions, buckets: parsed.buckets, depths: parsed.depths, metrics: metrics !== undefined });

  $('models').replaceChildren(...(present.length > 0 ? present.map(renderModel) : [el('p', { class: 'muted' }, 'no models')]));

  const rolloutItems = rollouts.body ? listOf(rollouts.body, 'rollouts') : [];
  for (const detail of present) if (detail.rollout && !rolloutItems.some((r) => r && r.model === detail.name)) rolloutItems.push({ model: detail.name, ...detail.rollout });
  renderOptional('rollouts-section', 'rollouts', rolloutItems, ['model', 'state', 'target', 'weight', 'step', 'reason', 'history'],
    rollouts.body ? '' : 'no rollouts endpoint readable here: GET /admin/rollouts answered ' + rollouts.status);
  // GET /models/<name>: shadow.versions, one row per shadow version of the model.
  const shadowItems = present.flatMap((detail) =>
    detail.shadow && Array.isArray(detail.shadow.versions) ? detail.shadow.versions.map((row) => ({ model: detail.name, ...row })) : [],
  );
  renderOptional('shadow-section', 'shadows', shadowItems, ['model', 'version', 'mirrored', 'compared', 'agreed', 'disagreed', 'errors', 'dropped', 'max_abs_difference'], '');
  const nodeItems = cluster.body ? listOf(cluster.body, 'nodes') : [];
  renderOptional('nodes-section', 'nodes', nodeItems, ['id', 'url', 'self', 'state', 'versions', 'load'],
    cluster.body ? '' : 'no cluster membership: GET /cluster answered ' + cluster.status);

  $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
  document.body.setAttribute('data-polls', String(Number(document.body.getAttribute('data-polls') || 0) + 1));
  showProblem('');
}

async function loop() {
  try {
    await poll();
  } catch (error) {
    showProblem('the gateway did not answer: ' + (error && error.message ? error.message : String(error)));
  }
  setTimeout(loop, POLL_MS);
}

document.addEventListener('DOMContentLoaded', () => {
  $('window-seconds').textContent = String(WINDOW_MS / 1000);
  $('use-key').addEventListener('click', () => {
    apiKey = $('api-key').value.trim();
    $('api-key').value = '';
    if (apiKey) sessionStorage.setItem(KEY_STORAGE, apiKey);
    else sessionStorage.removeItem(KEY_STORAGE);
  });
  loop();
});
