// The header: version, row and provider counts from /api/status, who auto-fastest is now, and
// the team link (sharedState) when team mode is on.

import { byId, setText } from './dom.js';
import { fmtInt } from './format.js';
import { api } from './api.js';
import { providerName, state } from './state.js';
import { renderSetup } from './setup.js';

export function renderHeader() {
  const st = state.status;
  const version = st?.version || state.settings?.version;
  setText(byId('app-version'), version ? `v${version}` : '');
  if (st) {
    setText(byId('rows-up'), fmtInt(st.rowsUp));
    setText(byId('rows-total'), fmtInt(st.rows));
    setText(byId('providers-usable'), fmtInt(st.providersUsable));
  }
  // Prefer the live models body (pushed); fall back to /api/status.
  let name = null;
  let provider = '';
  const id = state.modelsReceivedAt ? state.autoFastest : st?.autoFastest?.id;
  if (id) {
    const row = state.modelsById.get(id);
    if (row) {
      name = row.name || row.modelId || row.id;
      provider = row.providerName || row.provider || '';
    } else if (st?.autoFastest && st.autoFastest.id === id) {
      name = st.autoFastest.name || st.autoFastest.group || id;
      provider = providerName(st.autoFastest.provider);
    } else {
      name = id;
    }
  }
  const box = byId('auto-fastest');
  box.classList.toggle('is-none', !name);
  box.dataset.rowId = id || '';
  setText(byId('auto-fastest-name'), name || (state.modelsReceivedAt || st ? 'nothing available' : '…'));
  setText(byId('auto-fastest-provider'), provider ? `on ${provider}` : '');
  renderSharedState(st?.sharedState);
}

/** "shared state: connected to … / unreachable since …", from /api/status's sharedState. */
function renderSharedState(shared) {
  const el = byId('shared-state');
  if (!el) return;
  el.hidden = !shared?.enabled;
  if (!shared?.enabled) return;
  const since = shared.since ? new Date(shared.since * 1000).toLocaleTimeString() : '';
  el.dataset.state = shared.connected ? 'live' : 'down';
  setText(el, shared.connected
    ? `shared state: connected to ${shared.url}`
    : `shared state: unreachable${since ? ` since ${since}` : ''}`);
  el.title = shared.lastError || '';
}

let statusTimer = null;
/** /api/status has the header counts; refresh it (throttled) when a pushed event says things changed. */
export function scheduleStatus(delay = 1500) {
  if (statusTimer) return;
  statusTimer = setTimeout(() => {
    statusTimer = null;
    loadStatus().catch(() => {});
  }, delay);
}

export async function loadStatus() {
  state.status = await api('/api/status');
  renderHeader();
  renderSetup();
}
