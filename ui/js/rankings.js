// The rankings table: keyed rows updated in place, sort and filters, the pin banner, pin and ban.

import { byId, fill, h, moveBefore, setText, show, svg } from './dom.js';
import {
  dash,
  fmtClock,
  fmtContext,
  fmtDuration,
  fmtInt,
  fmtMs,
  fmtPct,
  isNum,
  STATUS_ORDER,
  statusBadge,
} from './format.js';
import { api } from './api.js';
import { providerName, state } from './state.js';
import { queued, toast } from './feedback.js';
import { selectTab } from './tabs.js';
import { renderHeader } from './header.js';

const COLUMNS = ['rank', 'model', 'provider', 'status', 'ttft', 'latency', 'total', 'trend', 'tps',
  'uptime', 'ratelimit', 'score', 'context', 'caps', 'actions'];

const SORT_KEYS = {
  rank: (r) => r.rank,
  name: (r) => (r.name || r.modelId || r.id || '').toLowerCase(),
  group: (r) => (r.group || '').toLowerCase(),
  provider: (r) => (r.providerName || r.provider || '').toLowerCase(),
  status: (r) => { const i = STATUS_ORDER.indexOf(r.status); return i < 0 ? STATUS_ORDER.length : i; },
  ttft: (r) => r.ttftMs,
  latency: (r) => r.expectedMs,
  total: (r) => r.lastTotalMs,
  tps: (r) => r.tokensPerSecond,
  uptime: (r) => r.uptime,
  ratelimit: (r) => r.rateLimit?.coolingForSeconds ?? null,
  score: (r) => r.score,
  context: (r) => r.context,
};
// Columns where "bigger is better" sort descending on the first click.
const DESC_FIRST = new Set(['tps', 'uptime', 'score', 'context', 'ratelimit']);

export const rk = {
  body: null,
  rows: new Map(), // id -> { tr, cells, pinBtn, banBtn, sig }
  sort: { key: null, dir: 1 },
  hover: false,
  orderDirty: false,
  current: null, // row id holding the table's tab stop
};

function compareValues(a, b) {
  const an = a == null || (typeof a === 'number' && !Number.isFinite(a));
  const bn = b == null || (typeof b === 'number' && !Number.isFinite(b));
  if (an && bn) return 0;
  if (an) return 1; // unknowns always last
  if (bn) return -1;
  if (typeof a === 'string') return a.localeCompare(b);
  return a - b;
}

function defaultCompare(a, b) {
  return compareValues(a.rank, b.rank) ||
    compareValues(SORT_KEYS.status(a), SORT_KEYS.status(b)) ||
    compareValues(a.expectedMs, b.expectedMs) ||
    compareValues(SORT_KEYS.name(a), SORT_KEYS.name(b)) ||
    compareValues(a.id, b.id);
}

function sortedRows() {
  const rows = state.models.slice();
  const { key, dir } = rk.sort;
  if (!key) return rows.sort(defaultCompare);
  const get = SORT_KEYS[key];
  return rows.sort((a, b) => {
    const va = get(a);
    const vb = get(b);
    const an = va == null;
    const bn = vb == null;
    if (an !== bn) return an ? 1 : -1;
    return (an ? 0 : dir * compareValues(va, vb)) || defaultCompare(a, b);
  });
}

/** Why a row is retired, in words: the provider's list omits it, or it said the model is gone. */
export function retiredReason(retired) {
  if (!retired) return '';
  if (retired.reason === 'not_listed') {
    const seen = isNum(retired.lastSeen) ? `last listed ${new Date(retired.lastSeen).toLocaleString()}` : 'not listed since the router started';
    return `${retired.message} (${seen})`;
  }
  return `${retired.message} (retired for ${fmtDuration(retired.forSeconds)} more)`;
}

function rowMatches(r) {
  const provider = byId('filter-provider').value;
  const status = byId('filter-status').value;
  const usable = byId('filter-usable').checked;
  const q = byId('search').value.trim().toLowerCase();
  if (provider && r.provider !== provider) return false;
  if (status && r.status !== status) return false;
  // Retired rows (the provider no longer offers the model) are hidden unless asked for.
  if (r.status === 'retired' && status !== 'retired' && !byId('filter-retired').checked) return false;
  if (usable && r.rank == null) return false;
  if (q) {
    const hay = [r.name, r.modelId, r.group, r.provider, r.providerName, r.id, ...(r.tags || [])]
      .filter(Boolean).join(' ').toLowerCase();
    if (!q.split(/\s+/).every((w) => hay.includes(w))) return false;
  }
  return true;
}

function icon(name) {
  if (name === 'pin') {
    return svg('svg', { viewBox: '0 0 24 24', width: 16, height: 16, 'aria-hidden': 'true', focusable: 'false' },
      svg('path', { d: 'M9 3h6l-1 6 4 4H6l4-4z', fill: 'none', stroke: 'currentColor', 'stroke-width': 2, 'stroke-linejoin': 'round', class: 'icon-fill' }),
      svg('path', { d: 'M12 13v8', stroke: 'currentColor', 'stroke-width': 2, 'stroke-linecap': 'round' }));
  }
  return svg('svg', { viewBox: '0 0 24 24', width: 16, height: 16, 'aria-hidden': 'true', focusable: 'false' },
    svg('circle', { cx: 12, cy: 12, r: 8, fill: 'none', stroke: 'currentColor', 'stroke-width': 2 }),
    svg('path', { d: 'M6.5 17.5l11-11', stroke: 'currentColor', 'stroke-width': 2 }));
}

/** Small labelled icon for a capability (tools / vision). */
function capIcon(kind) {
  const label = kind === 'tools' ? 'Tools: supports tool calls' : 'Vision: accepts images';
  const paths = kind === 'tools'
    ? [svg('path', { d: 'M14.5 5.5a4 4 0 0 0-5 5L4 16l4 4 5.5-5.5a4 4 0 0 0 5-5l-2.5 2.5-3-1-1-3z', fill: 'none', stroke: 'currentColor', 'stroke-width': 1.8, 'stroke-linejoin': 'round' })]
    : [svg('path', { d: 'M2 12s3.5-6.5 10-6.5S22 12 22 12s-3.5 6.5-10 6.5S2 12 2 12z', fill: 'none', stroke: 'currentColor', 'stroke-width': 1.8 }),
      svg('circle', { cx: 12, cy: 12, r: 3, fill: 'currentColor' })];
  return h('span', { class: `cap cap-${kind}`, title: label, role: 'img', 'aria-label': label },
    svg('svg', { viewBox: '0 0 24 24', width: 16, height: 16, 'aria-hidden': 'true', focusable: 'false' }, paths));
}

function createRow(id) {
  const tr = h('tr', { tabindex: '-1', dataset: { rowId: id } }); // roving tabindex, see syncRowTabStop
  const cells = {};
  for (const col of COLUMNS) {
    const td = h(col === 'model' ? 'th' : 'td', { class: `col-${col}` });
    if (col === 'model') td.setAttribute('scope', 'row');
    cells[col] = td;
    tr.append(td);
  }
  // Row buttons are out of the tab order (P / B on a focused row, or the drawer, reach them).
  const pinBtn = h('button', { type: 'button', class: 'icon-btn row-btn', tabindex: '-1', dataset: { action: 'pin' }, 'aria-pressed': 'false' }, icon('pin'));
  const banBtn = h('button', { type: 'button', class: 'icon-btn row-btn', tabindex: '-1', dataset: { action: 'ban' }, 'aria-pressed': 'false' }, icon('ban'));
  cells.actions.append(h('div', { class: 'row-actions' }, pinBtn, banBtn));
  return { tr, cells, pinBtn, banBtn, sig: {} };
}

/** Rebuilds one cell only when what it shows changed. */
function setCell(rec, col, sig, build) {
  if (rec.sig[col] === sig) return;
  rec.sig[col] = sig;
  fill(rec.cells[col], build());
}

export function sparkline(samples, width = 80, height = 24, withAxis = false) {
  const list = (samples || []).slice().reverse(); // oldest first
  const box = svg('svg', {
    class: 'spark', viewBox: `0 0 ${width} ${height}`, width, height,
    role: 'img', preserveAspectRatio: 'none',
  });
  const ok = list.filter((s) => isNum(s.totalMs) && s.outcome === 'success');
  if (!list.length) {
    box.setAttribute('aria-label', 'No samples yet');
    box.append(svg('line', { x1: 0, x2: width, y1: height - 1, y2: height - 1, class: 'spark-empty' }));
    return box;
  }
  const max = Math.max(1, ...list.map((s) => Math.max(s.totalMs || 0, s.ttftMs || 0)));
  const pad = 2;
  const x = (i) => (list.length === 1 ? width / 2 : pad + (i * (width - 2 * pad)) / (list.length - 1));
  const y = (v) => height - pad - (v / max) * (height - 2 * pad);
  const line = (field) => list
    .map((s, i) => (isNum(s[field]) && s.outcome === 'success' ? `${x(i).toFixed(1)},${y(s[field]).toFixed(1)}` : null))
    .filter(Boolean).join(' ');
  if (withAxis) {
    box.append(svg('line', { x1: 0, x2: width, y1: height - pad, y2: height - pad, class: 'spark-axis' }));
  }
  const ttft = line('ttftMs');
  const total = line('totalMs');
  if (ttft) box.append(svg('polyline', { points: ttft, class: 'spark-ttft', fill: 'none' }));
  if (total) box.append(svg('polyline', { points: total, class: 'spark-total', fill: 'none' }));
  list.forEach((s, i) => {
    if (s.outcome !== 'success' && s.outcome !== 'overtaken') {
      const cls = s.outcome === 'rate_limited' ? 'spark-rl' : 'spark-fail';
      box.append(svg('line', { x1: x(i), x2: x(i), y1: pad, y2: height - pad, class: cls }));
    }
  });
  if (ok.length) {
    const last = ok[ok.length - 1];
    box.append(svg('circle', { cx: x(list.lastIndexOf(last)), cy: y(last.totalMs), r: withAxis ? 3 : 2, class: 'spark-last' }));
  }
  const vals = ok.map((s) => s.totalMs);
  const fails = list.length - ok.length;
  const label = vals.length
    ? `${list.length} samples, total ${fmtMs(Math.min(...vals))} to ${fmtMs(Math.max(...vals))}${fails ? `, ${fails} failed` : ''}`
    : `${list.length} samples, all failed`;
  box.setAttribute('aria-label', label);
  box.append(svg('title', null, label));
  return box;
}

export function rateLimitInfo(r, receivedAt) {
  const rl = r.rateLimit || {};
  const cooling = isNum(rl.coolingForSeconds) && rl.coolingForSeconds > 0 ? rl.coolingForSeconds : null;
  const parts = [];
  if (rl.window != null && rl.window !== '') parts.push(`window ${rl.window}`);
  if (isNum(rl.remainingRequests) || isNum(rl.limitRequests)) {
    parts.push(`${fmtInt(rl.remainingRequests)} of ${fmtInt(rl.limitRequests)} requests left`);
  }
  if (cooling) {
    const resetAt = Math.round((receivedAt + cooling * 1000) / 1000) * 1000;
    return { limited: true, text: `until ${fmtClock(resetAt)}`, title: [`Cooling down for ${fmtDuration(cooling)}`, ...parts].join(' · ') };
  }
  if (isNum(rl.remainingRequests) && isNum(rl.limitRequests)) {
    return { limited: false, text: `${fmtInt(rl.remainingRequests)}/${fmtInt(rl.limitRequests)}`, title: parts.join(' · ') };
  }
  return { limited: false, text: parts.length ? 'ok' : dash, title: parts.join(' · ') };
}

function updateRow(rec, r, receivedAt) {
  const tr = rec.tr;
  const isAuto = r.id === state.autoFastest;
  tr.classList.toggle('is-auto', isAuto);
  tr.classList.toggle('is-pinned', Boolean(r.pinned));
  tr.classList.toggle('is-banned', Boolean(r.banned));
  tr.classList.toggle('is-unranked', r.rank == null);
  const label = r.name || r.modelId || r.id;

  setCell(rec, 'rank', `${r.rank}|${isAuto}`, () => (r.rank == null ? h('span', { class: 'muted' }, dash) : String(r.rank)));
  setCell(rec, 'model', JSON.stringify([label, r.modelId, r.group, isAuto, r.pinned, r.id]), () => [
    h('div', { class: 'model-name' },
      h('span', { class: 'name-text', title: r.id }, label),
      isAuto ? h('span', { class: 'badge badge-auto' }, 'auto') : null,
      r.pinned ? h('span', { class: 'badge badge-pin' }, 'pinned') : null),
    h('div', { class: 'model-sub mono', title: `group ${r.group || dash} · upstream id ${r.modelId || dash}` }, r.group || r.modelId || ''),
  ]);
  setCell(rec, 'provider', `${r.providerName}|${r.provider}`, () => h('span', { title: r.provider }, r.providerName || r.provider || dash));
  const errMsg = r.status === 'retired' ? retiredReason(r.retired) : r.lastError?.message || '';
  setCell(rec, 'status', `${r.status}|${errMsg}`, () => {
    const b = statusBadge(r.status);
    if (errMsg && r.status !== 'up') b.title = errMsg;
    return b;
  });
  setCell(rec, 'ttft', `${r.ttftMs}|${r.ttftP95Ms}`, () => [
    h('div', null, fmtMs(r.ttftMs)),
    isNum(r.ttftP95Ms) ? h('div', { class: 'sub' }, `p95 ${fmtMs(r.ttftP95Ms)}`) : null,
  ]);
  const est = state.estimate || {};
  const assumed = r.expectedBasis === 'assumed-throughput';
  setCell(rec, 'latency', `${r.expectedMs}|${r.expectedBasis}`, () => (isNum(r.expectedMs)
    ? h('span', {
      class: assumed ? 'estimate assumed' : 'estimate',
      title: assumed
        ? `Estimated with an assumed ${est.assumedTokensPerSecond ?? '?'} tok/s: no answer of at least ${est.minTimedTokens ?? '?'} tokens has been timed yet`
        : `Measured TTFT plus ${est.outputTokens ?? '?'} tokens at the measured throughput`,
    }, `${assumed ? '~' : ''}${fmtMs(r.expectedMs)}`)
    : dash));
  setCell(rec, 'total', `${r.lastTotalMs}|${r.lastTokens}`, () => (isNum(r.lastTotalMs)
    ? [h('div', null, fmtMs(r.lastTotalMs)),
      isNum(r.lastTokens) ? h('div', { class: 'sub' }, `${r.lastTokens} tok`) : null]
    : dash));
  const sampleSig = (r.samples || []).map((s) => `${s.ttftMs},${s.totalMs},${s.outcome}`).join('|');
  setCell(rec, 'trend', sampleSig, () => sparkline(r.samples));
  setCell(rec, 'tps', String(r.tokensPerSecond), () => (isNum(r.tokensPerSecond)
    ? String(Math.round(r.tokensPerSecond))
    : h('span', { title: `Not measured yet: no streamed answer of at least ${est.minTimedTokens ?? '?'} tokens` }, dash)));
  setCell(rec, 'uptime', `${r.uptime}|${r.errorRate}`, () => {
    if (!isNum(r.uptime)) return dash;
    const w = Math.max(0, Math.min(1, r.uptime)) * 36;
    return h('span', { class: 'uptime', title: isNum(r.errorRate) ? `Error rate ${fmtPct(r.errorRate)}` : '' },
      h('span', null, fmtPct(r.uptime)),
      svg('svg', { class: 'bar', viewBox: '0 0 36 4', width: 36, height: 4, 'aria-hidden': 'true' },
        svg('rect', { x: 0, y: 0, width: 36, height: 4, rx: 2, class: 'bar-bg' }),
        svg('rect', { x: 0, y: 0, width: w.toFixed(1), height: 4, rx: 2, class: r.uptime >= 0.95 ? 'bar-ok' : r.uptime >= 0.8 ? 'bar-warn' : 'bar-bad' })));
  });
  const rl = rateLimitInfo(r, receivedAt);
  setCell(rec, 'ratelimit', JSON.stringify(rl), () => h('div', {
    class: rl.limited ? 'rl rl-limited' : 'rl', title: rl.title || null,
  }, rl.limited ? [h('span', { class: 'rl-tag' }, 'limited'), h('div', { class: 'sub' }, rl.text)] : rl.text));
  setCell(rec, 'score', `${r.score}|${r.scoreSource}`, () => h('span', {
    title: r.scoreSource ? `Source: ${r.scoreSource}` : null,
  }, fmtPct(r.score)));
  setCell(rec, 'context', String(r.context), () => h('span', { title: isNum(r.context) ? `${fmtInt(r.context)} tokens` : null }, fmtContext(r.context)));
  setCell(rec, 'caps', `${r.tools}|${r.vision}`, () => h('span', { class: 'caps' },
    r.tools ? capIcon('tools') : null,
    r.vision ? capIcon('vision') : null,
    !r.tools && !r.vision ? h('span', { class: 'muted' }, dash) : null));

  const pinLabel = r.pinned ? `Unpin ${label}` : `Pin ${label} (${r.providerName || r.provider})`;
  if (rec.pinBtn.getAttribute('aria-pressed') !== String(Boolean(r.pinned))) rec.pinBtn.setAttribute('aria-pressed', String(Boolean(r.pinned)));
  if (rec.pinBtn.getAttribute('aria-label') !== pinLabel) { rec.pinBtn.setAttribute('aria-label', pinLabel); rec.pinBtn.title = r.pinned ? 'Unpin' : 'Pin'; }
  const banLabel = r.banned ? `Unban ${label}` : `Ban ${label}`;
  if (rec.banBtn.getAttribute('aria-pressed') !== String(Boolean(r.banned))) rec.banBtn.setAttribute('aria-pressed', String(Boolean(r.banned)));
  if (rec.banBtn.getAttribute('aria-label') !== banLabel) { rec.banBtn.setAttribute('aria-label', banLabel); rec.banBtn.title = r.banned ? 'Unban' : 'Ban'; }
}

export function applyModels(body) {
  if (!body || !Array.isArray(body.models)) return;
  state.models = body.models;
  state.modelsById = new Map(body.models.map((m) => [m.id, m]));
  state.modelsReceivedAt = Date.now();
  state.autoFastest = body.autoFastest ?? null;
  state.pinned = body.pinned ?? null;
  if (body.estimate) {
    state.estimate = body.estimate;
    setText(byId('estimate-label'), `Est. ${body.estimate.outputTokens} tok`);
  }
  if (body.pinningMode) state.pinningMode = body.pinningMode;

  const seen = new Set();
  for (const r of body.models) {
    seen.add(r.id);
    let rec = rk.rows.get(r.id);
    if (!rec) {
      rec = createRow(r.id);
      rk.rows.set(r.id, rec);
      rk.orderDirty = true;
    }
    updateRow(rec, r, state.modelsReceivedAt);
  }
  for (const [id, rec] of rk.rows) {
    if (!seen.has(id)) {
      const hadFocus = rec.tr.contains(document.activeElement);
      rec.tr.remove();
      rk.rows.delete(id);
      if (hadFocus) rk.body.closest('.table-wrap').focus({ preventScroll: true });
    }
  }
  rk.orderDirty = true;
  syncProviderFilter();
  renderRankingsView();
  renderPinBanner();
  renderHeader();
  hooks.rowsChanged();
}

/** Applies order and filters. Row order is held while the pointer is on the table. */
function renderRankingsView() {
  const body = rk.body;
  const ordered = sortedRows();
  let shown = 0;
  const retired = ordered.filter((r) => r.status === 'retired').length;
  setText(byId('retired-count'), retired ? `(${retired})` : '');
  for (const r of ordered) {
    const rec = rk.rows.get(r.id);
    if (!rec) continue;
    const match = rowMatches(r);
    show(rec.tr, match);
    if (match) shown++;
  }
  if (rk.hover) {
    for (const r of ordered) {
      const rec = rk.rows.get(r.id);
      if (rec && !rec.tr.isConnected) body.append(rec.tr);
    }
  }
  if (rk.orderDirty && !rk.hover) {
    let cursor = body.firstElementChild;
    for (const r of ordered) {
      const rec = rk.rows.get(r.id);
      if (!rec) continue;
      if (rec.tr === cursor) {
        cursor = cursor.nextElementSibling;
      } else {
        const focused = rec.tr.contains(document.activeElement) ? document.activeElement : null;
        moveBefore(body, rec.tr, cursor);
        if (focused && document.activeElement !== focused) focused.focus({ preventScroll: true });
      }
    }
    rk.orderDirty = false;
  }
  syncRowTabStop();
  show(byId('order-held'), rk.hover && rk.orderDirty);
  const total = state.models.length;
  setText(byId('rankings-count'), total ? (shown === total ? `${total} rows` : `${shown} of ${total} rows`) : '');
  const empty = byId('rankings-empty');
  if (!state.modelsReceivedAt) setText(empty, 'Loading rankings…');
  else if (!total) setText(empty, 'No model rows yet. Add a provider key on the Providers tab.');
  else setText(empty, 'No rows match the filters.');
  show(empty, shown === 0);
}

/** Exactly one visible row is in the tab order: the last one focused, else the first. */
function syncRowTabStop() {
  let target = rk.current ? rk.rows.get(rk.current)?.tr : null;
  if (!target || target.hidden || !target.isConnected) {
    target = null;
    for (const tr of rk.body.children) if (!tr.hidden) { target = tr; break; }
  }
  for (const rec of rk.rows.values()) {
    const want = rec.tr === target ? 0 : -1;
    if (rec.tr.tabIndex !== want) rec.tr.tabIndex = want;
  }
}

export function syncProviderFilter() {
  const select = byId('filter-provider');
  const seen = new Map();
  for (const p of state.providers) seen.set(p.key, p.name || p.key);
  for (const r of state.models) if (!seen.has(r.provider)) seen.set(r.provider, r.providerName || r.provider);
  const wanted = [...seen.entries()];
  const existing = [...select.options].slice(1).map((o) => [o.value, o.textContent]);
  if (JSON.stringify(existing) === JSON.stringify(wanted)) return;
  const value = select.value;
  while (select.options.length > 1) select.remove(1);
  for (const [key, name] of wanted) select.append(h('option', { value: key }, name));
  if (value && !seen.has(value)) select.append(h('option', { value }, value));
  select.value = value;
}

export function renderPinBanner() {
  const p = state.pinned;
  const banner = byId('pin-banner');
  show(banner, Boolean(p));
  if (!p) return;
  const mode = state.pinningMode || state.settings?.pinningMode;
  const row = state.models.find((m) => m.provider === p.provider && m.modelId === p.modelId);
  const name = row?.name || p.group || p.modelId;
  setText(byId('pin-label'), mode === 'exact'
    ? `${name} on ${row?.providerName || providerName(p.provider)}`
    : `${name}${p.group ? ` (group ${p.group})` : ''}`);
  setText(byId('pin-mode'), mode === 'exact'
    ? `exact row ${p.provider}/${p.modelId}`
    : 'canonical: any provider serving this model');
}

export async function loadModels() {
  applyModels(await api('/api/models'));
}

export async function togglePin(row, btn) {
  await queued(btn, async () => {
    if (row.pinned) {
      await api('/api/pinned', { method: 'POST', body: {} });
      toast(`Unpinned ${row.name || row.modelId}`, 'info');
    } else {
      await api('/api/pinned', { method: 'POST', body: { provider: row.provider, modelId: row.modelId } });
      toast(`Pinned ${row.name || row.modelId}`, 'info');
    }
    await loadModels();
  });
}

async function unpin(btn) {
  await queued(btn, async () => {
    await api('/api/pinned', { method: 'POST', body: {} });
    toast('Unpinned', 'info');
    await loadModels();
  });
}

export async function toggleBan(row, btn) {
  await queued(btn, async () => {
    await api('/api/models/ban', { method: 'POST', body: { modelId: row.id, banned: !row.banned } });
    toast(`${row.banned ? 'Unbanned' : 'Banned'} ${row.name || row.modelId}`, 'info');
    await loadModels();
  });
}

// What the page does when a row is opened or the rows change (the drawer, wired by app.js):
// passed in rather than imported, so this module and the drawer do not import each other.
const hooks = { openRow: () => {}, rowsChanged: () => {} };

export function initRankings({ openRow, rowsChanged }) {
  hooks.openRow = openRow;
  hooks.rowsChanged = rowsChanged;
  rk.body = byId('rankings-body');
  const table = byId('rankings-table');
  const wrap = byId('rankings-wrap');
  wrap.tabIndex = -1;

  rk.body.addEventListener('click', (ev) => {
    const tr = ev.target.closest('tr[data-row-id]');
    if (!tr) return;
    const row = state.modelsById.get(tr.dataset.rowId);
    const btn = ev.target.closest('button[data-action]');
    if (btn) {
      if (!row) return;
      if (btn.dataset.action === 'pin') togglePin(row, btn);
      else if (btn.dataset.action === 'ban') toggleBan(row, btn);
      return;
    }
    if (ev.target.closest('a, input, select, textarea')) return;
    if (window.getSelection && String(window.getSelection()).length > 0) return; // selecting text
    hooks.openRow(tr.dataset.rowId);
  });
  rk.body.addEventListener('focusin', (ev) => {
    const tr = ev.target.closest('tr[data-row-id]');
    if (tr && rk.current !== tr.dataset.rowId) {
      rk.current = tr.dataset.rowId;
      syncRowTabStop();
    }
  });
  rk.body.addEventListener('keydown', (ev) => {
    const tr = ev.target;
    if (!(tr instanceof HTMLTableRowElement) || !tr.dataset.rowId) return;
    if (ev.altKey || ev.ctrlKey || ev.metaKey) return;
    const rec = rk.rows.get(tr.dataset.rowId);
    const visible = () => [...rk.body.children].filter((n) => !n.hidden);
    let next = null;
    if (ev.key === 'Enter' || ev.key === ' ') {
      ev.preventDefault();
      hooks.openRow(tr.dataset.rowId);
    } else if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
      next = ev.key === 'ArrowDown' ? tr.nextElementSibling : tr.previousElementSibling;
      while (next && next.hidden) next = ev.key === 'ArrowDown' ? next.nextElementSibling : next.previousElementSibling;
    } else if (ev.key === 'Home') {
      next = visible()[0];
    } else if (ev.key === 'End') {
      next = visible().pop();
    } else if ((ev.key === 'p' || ev.key === 'P') && rec) {
      ev.preventDefault();
      rec.pinBtn.click();
    } else if ((ev.key === 'b' || ev.key === 'B') && rec) {
      ev.preventDefault();
      rec.banBtn.click();
    }
    if (next) {
      ev.preventDefault();
      next.focus();
    }
  });

  // Hold row order while the pointer is on the table so rows don't jump under the mouse.
  rk.body.addEventListener('pointerenter', () => { rk.hover = true; });
  rk.body.addEventListener('pointerleave', () => {
    rk.hover = false;
    if (rk.orderDirty) renderRankingsView();
    else show(byId('order-held'), false);
  });

  table.querySelector('thead').addEventListener('click', (ev) => {
    const th = ev.target.closest('th[data-sort]');
    if (!th || !ev.target.closest('button')) return;
    const key = th.dataset.sort;
    const first = DESC_FIRST.has(key) ? -1 : 1;
    if (rk.sort.key !== key) rk.sort = { key, dir: first };
    else if (rk.sort.dir === first) rk.sort = { key, dir: -first };
    else rk.sort = { key: null, dir: 1 }; // third click: back to auto-fastest order
    for (const other of table.querySelectorAll('th[data-sort]')) {
      const on = other.dataset.sort === rk.sort.key;
      other.setAttribute('aria-sort', on ? (rk.sort.dir === 1 ? 'ascending' : 'descending') : 'none');
    }
    rk.orderDirty = true;
    const held = rk.hover;
    rk.hover = false; // an explicit sort applies immediately
    renderRankingsView();
    rk.hover = held;
  });

  const refilter = () => renderRankingsView();
  byId('search').addEventListener('input', refilter);
  byId('filter-provider').addEventListener('change', refilter);
  byId('filter-status').addEventListener('change', refilter);
  byId('filter-usable').addEventListener('change', refilter);
  byId('filter-retired').addEventListener('change', refilter);
  byId('unpin').addEventListener('click', (ev) => unpin(ev.currentTarget));
  byId('auto-fastest').addEventListener('click', () => {
    const id = byId('auto-fastest').dataset.rowId;
    if (id && state.modelsById.has(id)) { selectTab('rankings'); hooks.openRow(id); }
  });
  renderRankingsView();
}
