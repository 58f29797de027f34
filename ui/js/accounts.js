// The Accounts tab: every key of every provider's pool from /api/account-status (masked hints
// only), refreshed every two seconds while the tab is open and after each logged request.

import { byId, fill, h, setText, show } from './dom.js';
import { dash, fmtAgo } from './format.js';
import { api } from './api.js';

const REFRESH_MS = 2000;
let timer = 0;
let loading = false;

const STATE_LABELS = { active: 'Active', rate_limited: 'Rate limited', resting: 'Resting (max turns)' };

function stateCell(account) {
  const label = STATE_LABELS[account.state] || account.state;
  const text = account.state === 'rate_limited' && account.resetsInSeconds != null
    ? `${label} · resets in ${Math.ceil(account.resetsInSeconds)} s`
    : label;
  return h('span', { class: `account-state account-${account.state}` }, text);
}

export function renderAccounts(body) {
  const providers = body?.providers || [];
  const rows = [];
  for (const p of providers) {
    p.accounts.forEach((a, i) => {
      rows.push(h('tr', { dataset: { provider: p.key, index: a.index } },
        i === 0 ? h('th', { scope: 'rowgroup', rowspan: p.accounts.length }, p.name || p.key,
          h('div', { class: 'small muted mono' }, p.key)) : null,
        h('td', { class: 'mono account-hint' }, `[${a.index + 1}] ${a.hint}`),
        h('td', null, stateCell(a)),
        h('td', { class: 'num account-requests' }, String(a.requests)),
        h('td', null, a.lastRateLimitedSecondsAgo != null ? fmtAgo(a.lastRateLimitedSecondsAgo) : dash),
        h('td', { class: 'num' }, p.maxTurns ?? dash)));
    });
  }
  fill(byId('accounts-body'), rows);
  show(byId('accounts-empty'), providers.length === 0);
  setText(byId('accounts-updated'), `Updated ${new Date().toLocaleTimeString()}`);
}

export async function loadAccounts() {
  if (loading) return;
  loading = true;
  try {
    renderAccounts(await api('/api/account-status'));
  } finally {
    loading = false;
  }
}

/** Starts or stops the live refresh as the tab is shown or left. */
export function watchAccounts(visible) {
  clearInterval(timer);
  timer = 0;
  if (!visible) return;
  loadAccounts().catch(() => {});
  timer = setInterval(() => loadAccounts().catch(() => {}), REFRESH_MS);
}
