// The Logs tab: recent requests as cards keyed by id, newest first, and the unseen-count badge.

import { byId, h, setText, show } from './dom.js';
import { dash, fact, fmtClock, fmtInt, fmtMs, isNum } from './format.js';
import { api } from './api.js';
import { currentTab } from './tabs.js';

const MAX_LOGS = 200;

const lg = { cards: new Map(), unseen: 0 };

function logStatusClass(e) {
  if (e.error || (isNum(e.status) && e.status >= 400)) return 'bad';
  if (e.outcome && !/^(completed|success|ok)$/i.test(e.outcome)) return 'warn';
  return 'ok';
}

function renderMessages(messages) {
  if (messages == null) return null;
  let list = messages;
  if (!Array.isArray(list)) list = [list];
  return h('div', { class: 'log-messages' },
    h('h4', null, 'Prompt (truncated)'),
    list.map((m) => {
      if (m && typeof m === 'object' && 'role' in m) {
        const content = typeof m.content === 'string' ? m.content : JSON.stringify(m.content, null, 2);
        return h('div', { class: 'msg' }, h('span', { class: 'msg-role' }, String(m.role)), h('pre', { class: 'msg-content' }, content ?? ''));
      }
      return h('pre', { class: 'msg-content' }, typeof m === 'string' ? m : JSON.stringify(m, null, 2));
    }));
}

/** One line on a request's hedge: when it went out, who won, what the dropped attempt cost. */
function hedgeSummary(hedge) {
  const cost = hedge.loserCost
    ? `; the dropped attempt cost ${hedge.loserCost.provider} ${hedge.loserCost.requests} request (${fmtMs(hedge.loserCost.ms)})`
    : '';
  return `sent to ${hedge.hedge} after ${fmtMs(hedge.afterMs)}; the ${hedge.winner} (${hedge.winner === 'hedge' ? hedge.hedge : hedge.primary}) answered first${cost}`;
}

function fillLogCard(details, e) {
  const attempts = Array.isArray(e.attempts) ? e.attempts : [];
  const failovers = attempts.filter((a) => a && (a.error || (isNum(a.status) && a.status >= 400))).length;
  const cls = logStatusClass(e);
  const at = isNum(e.at) ? fmtClock(e.at) : dash;
  const summary = h('summary', { class: 'log-summary' },
    h('span', { class: 'log-time mono', title: isNum(e.at) ? new Date(e.at).toLocaleString() : null }, at),
    h('span', { class: `log-status log-${cls}` }, e.status ?? dash),
    h('span', { class: 'log-model' },
      h('span', { class: 'mono' }, e.model || dash),
      h('span', { class: 'muted' }, ' → '),
      h('span', { class: 'mono' }, [e.provider, e.upstreamModel].filter(Boolean).join(' / ') || 'no provider')),
    h('span', { class: 'log-metrics' },
      e.stream ? h('span', { class: 'chip' }, 'stream') : null,
      e.hedge ? h('span', { class: 'chip', title: hedgeSummary(e.hedge) }, `hedged, ${e.hedge.winner} won`) : null,
      failovers ? h('span', { class: 'chip chip-warn', title: 'Upstream attempts that failed before the answer (or the final error)' }, `${failovers} failed attempt${failovers === 1 ? '' : 's'}`) : null,
      h('span', { title: 'Total duration' }, fmtMs(e.durationMs)),
      isNum(e.ttftMs) ? h('span', { title: 'Time to first token' }, `TTFT ${fmtMs(e.ttftMs)}`) : null,
      isNum(e.tokens) ? h('span', { title: 'Tokens' }, `${fmtInt(e.tokens)} tok`) : null,
      e.outcome ? h('span', { class: `log-outcome log-${cls}` }, e.outcome) : null));

  const body = h('div', { class: 'log-body' },
    e.error ? h('div', { class: 'error-box' }, h('div', { class: 'error-text' }, typeof e.error === 'string' ? e.error : (e.error.message || JSON.stringify(e.error)))) : null,
    h('h4', null, `Attempts (${attempts.length})`),
    attempts.length
      ? h('div', { class: 'table-scroll' }, h('table', { class: 'attempts' },
        h('thead', null, h('tr', null,
          h('th', { scope: 'col' }, '#'), h('th', { scope: 'col' }, 'Provider'), h('th', { scope: 'col' }, 'Model'),
          h('th', { scope: 'col', class: 'num' }, 'Status'), h('th', { scope: 'col', class: 'num' }, 'Time'), h('th', { scope: 'col' }, 'Error'))),
        h('tbody', null, attempts.map((a, i) => h('tr', { class: a.error || (isNum(a.status) && a.status >= 400) ? 'is-fail' : null },
          h('td', null, i + 1),
          h('td', null, a.provider || dash, a.hedge ? h('span', { class: 'muted' }, ` (${a.hedge})`) : null),
          h('td', { class: 'mono' }, a.model || dash),
          h('td', { class: 'num' }, a.status ?? dash),
          h('td', { class: 'num' }, fmtMs(a.ms)),
          h('td', { class: 'error-text' }, a.error || ''))))))
      : h('p', { class: 'muted' }, 'No upstream attempt was made.'),
    h('dl', { class: 'facts facts-compact' },
      fact('Request id', String(e.id)),
      fact('Started', isNum(e.at) ? new Date(e.at).toLocaleString() : dash),
      fact('Streamed', e.stream ? 'yes' : 'no'),
      fact('Duration', fmtMs(e.durationMs)),
      fact('TTFT', fmtMs(e.ttftMs)),
      fact('Tokens', fmtInt(e.tokens)),
      e.hedge ? fact('Hedge', hedgeSummary(e.hedge)) : null),
    renderMessages(e.messages));
  details.replaceChildren(summary, body);
}

export function addLog(e, { prepend = true } = {}) {
  if (!e || e.id == null) return;
  const list = byId('logs-list');
  const key = String(e.id);
  const sig = JSON.stringify(e);
  const existing = lg.cards.get(key);
  if (existing) {
    if (existing.sig !== sig) {
      existing.sig = sig;
      const hadFocus = existing.el.contains(document.activeElement);
      fillLogCard(existing.el, e);
      if (hadFocus) existing.el.querySelector('summary').focus({ preventScroll: true });
    }
    return;
  }
  const el = h('details', { class: 'card log-card', dataset: { logId: key } });
  fillLogCard(el, e);
  lg.cards.set(key, { el, sig });
  if (prepend) {
    const first = list.querySelector('details');
    list.insertBefore(el, first);
  } else {
    list.append(el);
  }
  while (lg.cards.size > MAX_LOGS) {
    const last = list.querySelector('details:last-of-type');
    if (!last) break;
    lg.cards.delete(last.dataset.logId);
    last.remove();
  }
  show(byId('logs-empty'), lg.cards.size === 0);
  setText(byId('logs-count'), `${lg.cards.size} request${lg.cards.size === 1 ? '' : 's'}`);
}

export function markLogsSeen() {
  lg.unseen = 0;
  show(byId('logs-badge'), false);
}

export function noteNewLog() {
  if (currentTab === 'logs') return;
  lg.unseen++;
  const badge = byId('logs-badge');
  setText(badge, lg.unseen > 99 ? '99+' : String(lg.unseen));
  show(badge, true);
}

export async function loadLogs() {
  const body = await api('/api/logs');
  const entries = Array.isArray(body.entries) ? body.entries : [];
  // Newest first: add oldest first, each prepended, so unknown ones land in order on a reconnect.
  for (let i = entries.length - 1; i >= 0; i--) addLog(entries[i], { prepend: true });
  show(byId('logs-empty'), lg.cards.size === 0);
  setText(byId('logs-count'), `${lg.cards.size} request${lg.cards.size === 1 ? '' : 's'}`);
}
