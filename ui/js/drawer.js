// The row details drawer: one row's facts, last error and samples, with ping, pin and ban.

import { byId, fill, h, setText, show } from './dom.js';
import {
  dash,
  fact,
  fmtAgo,
  fmtContext,
  fmtInt,
  fmtMs,
  fmtPct,
  isNum,
  statusBadge,
} from './format.js';
import { api } from './api.js';
import { state } from './state.js';
import { withBusy } from './feedback.js';
import { loadModels, rateLimitInfo, retiredReason, rk, sparkline, toggleBan, togglePin } from './rankings.js';
import { renderDrawerTags } from './tags.js';

const drawer = { id: null, returnFocus: null, lastRow: null };

export function openDrawer(id) {
  const changed = drawer.id !== id;
  drawer.id = id;
  const tr = rk.rows.get(id)?.tr;
  drawer.returnFocus = tr || document.activeElement;
  if (changed) {
    setText(byId('drawer-ping-result'), '');
    byId('drawer-ping-result').className = 'ping-result';
  }
  for (const rec of rk.rows.values()) rec.tr.classList.toggle('is-open', rec.tr === tr);
  const el = byId('drawer');
  show(el, true);
  document.body.classList.add('drawer-open');
  renderDrawer();
  el.focus({ preventScroll: true });
}

function closeDrawer() {
  if (!drawer.id) return;
  drawer.id = null;
  drawer.lastRow = null;
  show(byId('drawer'), false);
  document.body.classList.remove('drawer-open');
  for (const rec of rk.rows.values()) rec.tr.classList.remove('is-open');
  const back = drawer.returnFocus;
  drawer.returnFocus = null;
  if (back && back.isConnected && typeof back.focus === 'function') back.focus({ preventScroll: true });
}

export function renderDrawer() {
  if (!drawer.id) return;
  const live = state.modelsById.get(drawer.id);
  const r = live || drawer.lastRow;
  if (!r) { closeDrawer(); return; }
  drawer.lastRow = r;
  const label = r.name || r.modelId || r.id;
  setText(byId('drawer-title'), label);
  setText(byId('drawer-subtitle'), r.id);
  const pin = byId('drawer-pin');
  setText(pin, r.pinned ? 'Unpin' : 'Pin');
  pin.setAttribute('aria-pressed', String(Boolean(r.pinned)));
  const ban = byId('drawer-ban');
  setText(ban, r.banned ? 'Unban' : 'Ban');
  ban.setAttribute('aria-pressed', String(Boolean(r.banned)));

  renderDrawerTags(r);
  const rl = rateLimitInfo(r, state.modelsReceivedAt);
  const body = byId('drawer-body');
  const scroll = body.scrollTop;
  const samples = r.samples || [];
  fill(body,
    live ? null : h('p', { class: 'notice' }, 'This row is no longer listed by the router; showing its last known data.'),
    h('div', { class: 'drawer-status' },
      statusBadge(r.status),
      r.id === state.autoFastest ? h('span', { class: 'badge badge-auto' }, 'auto-fastest') : null,
      r.pinned ? h('span', { class: 'badge badge-pin' }, 'pinned') : null,
      r.banned ? h('span', { class: 'badge badge-bad' }, 'banned') : null,
      r.rank != null ? h('span', { class: 'muted' }, `rank ${r.rank}`) : h('span', { class: 'muted' }, 'not ranked')),
    h('dl', { class: 'facts' },
      fact('Provider', r.providerName || r.provider, r.provider),
      fact('Model id', h('span', { class: 'mono' }, r.modelId || dash)),
      fact('Group', h('span', { class: 'mono' }, r.group || dash)),
      fact(`Est. ${state.estimate?.outputTokens ?? ''} tok`, `${r.expectedBasis === 'assumed-throughput' ? '~' : ''}${fmtMs(r.expectedMs)}${r.expectedBasis === 'assumed-throughput' ? ' (assumed throughput)' : ''}`),
      fact('Last answer', isNum(r.lastTotalMs) ? `${fmtMs(r.lastTotalMs)}${isNum(r.lastTokens) ? ` · ${r.lastTokens} tok` : ''}` : dash),
      fact('TTFT', `${fmtMs(r.ttftMs)} (p95 ${fmtMs(r.ttftP95Ms)})`),
      fact('Throughput', isNum(r.tokensPerSecond) ? `${Math.round(r.tokensPerSecond)} tok/s` : dash),
      fact('Uptime', fmtPct(r.uptime)),
      fact('Error rate', fmtPct(r.errorRate)),
      fact('Rate limit', rl.limited ? `limited ${rl.text}` : rl.text, rl.title),
      fact('Coding score', `${fmtPct(r.score)}${r.scoreSource ? ` · ${r.scoreSource}` : ''}`),
      fact('Context', isNum(r.context) ? `${fmtContext(r.context)} (${fmtInt(r.context)} tokens)` : dash),
      fact('Capabilities', [r.tools ? 'tools' : null, r.vision ? 'vision' : null].filter(Boolean).join(', ') || dash),
      (r.tags && r.tags.length) ? fact('Tags', r.tags.join(', ')) : null,
      r.origin ? fact('Origin', r.origin) : null,
      r.retired ? fact('Retired', retiredReason(r.retired)) : null,
      r.provenance ? fact('Catalog data', r.provenance.kind === 'verified'
        ? `checked ${r.provenance.date} against ${r.provenance.sources.join(', ')}`
        : `estimate: ${r.provenance.reason}`) : null),
    h('section', { class: 'drawer-section', id: 'drawer-last-error' },
      h('h3', null, 'Last error'),
      r.lastError && r.lastError.message
        ? h('div', { class: 'error-box' },
          h('div', { class: 'muted small' }, fmtAgo(r.lastError.secondsAgo)),
          h('div', { class: 'error-text' }, r.lastError.message))
        : h('p', { class: 'muted' }, 'None recorded.')),
    h('section', { class: 'drawer-section' },
      h('h3', null, `Recent samples (${samples.length})`),
      samples.length
        ? [
          h('div', { class: 'chart' }, sparkline(samples, 400, 72, true),
            h('div', { class: 'legend small muted' },
              h('span', { class: 'lg lg-total' }, 'total'), h('span', { class: 'lg lg-ttft' }, 'TTFT'),
              h('span', { class: 'lg lg-fail' }, 'failed'), h('span', { class: 'lg lg-rl' }, 'rate-limited'),
              h('span', null, 'oldest → newest'))),
          h('div', { class: 'table-scroll' },
            h('table', { class: 'samples', id: 'drawer-samples' },
              h('thead', null, h('tr', null,
                h('th', { scope: 'col' }, 'When'), h('th', { scope: 'col' }, 'Source'), h('th', { scope: 'col' }, 'Outcome'),
                h('th', { scope: 'col', class: 'num' }, 'TTFT'), h('th', { scope: 'col', class: 'num' }, 'Total'),
                h('th', { scope: 'col', class: 'num' }, 'HTTP'))),
              h('tbody', null, samples.map((s) => h('tr', { class: s.outcome === 'success' || s.outcome === 'overtaken' ? null : s.outcome === 'rate_limited' ? 'is-rl' : 'is-fail' },
                h('td', null, fmtAgo(s.secondsAgo)),
                h('td', null, s.source || dash),
                h('td', null, s.outcome ? String(s.outcome).replace(/_/g, ' ') : dash),
                h('td', { class: 'num' }, fmtMs(s.ttftMs)),
                h('td', { class: 'num' }, fmtMs(s.totalMs)),
                h('td', { class: 'num' }, s.status ?? dash)))))),
        ]
        : h('p', { class: 'muted' }, 'No samples yet. Use "Ping now" to probe this row.')));
  body.scrollTop = scroll;
}

async function pingDrawerRow(btn) {
  const id = drawer.id;
  if (!id) return;
  const out = byId('drawer-ping-result');
  out.className = 'ping-result';
  setText(out, 'Pinging…');
  await withBusy(btn, async () => {
    try {
      const res = await api('/api/models/ping', { method: 'POST', body: { modelId: id } });
      if (drawer.id !== id) return;
      if (res.ok) {
        out.className = 'ping-result is-ok';
        setText(out, `OK · TTFT ${fmtMs(res.ttftMs)} · total ${fmtMs(res.totalMs)}`);
      } else {
        out.className = 'ping-result is-error';
        setText(out, `Failed${res.error ? `: ${res.error}` : ''}`);
      }
      loadModels().catch(() => {});
    } catch (err) {
      if (drawer.id === id) {
        out.className = 'ping-result is-error';
        setText(out, `Failed: ${err.message}`);
      }
      throw err;
    }
  });
}

export function initDrawer() {
  byId('drawer-close').addEventListener('click', closeDrawer);
  byId('drawer-ping').addEventListener('click', (ev) => pingDrawerRow(ev.currentTarget));
  byId('drawer-pin').addEventListener('click', (ev) => {
    const r = state.modelsById.get(drawer.id);
    if (r) togglePin(r, ev.currentTarget);
  });
  byId('drawer-ban').addEventListener('click', (ev) => {
    const r = state.modelsById.get(drawer.id);
    if (r) toggleBan(r, ev.currentTarget);
  });
  document.addEventListener('keydown', (ev) => {
    if (ev.key !== 'Escape' || ev.defaultPrevented) return;
    if (document.querySelector('dialog[open]')) return; // native dialogs handle their own Escape
    if (drawer.id) { ev.preventDefault(); closeDrawer(); }
  });
}
