// modelrelay admin page: renders what the admin API (/api, see docs/API.md) returns.
// It holds no routing rules of its own. Live data arrives over /api/events (SSE, read with fetch so
// an Authorization header can be sent) and is applied in place: rows and cards are keyed, inputs the
// user is editing are never overwritten, focus is never moved by an update. Everything that came
// from the server is inserted as text (textContent / createElement), never as HTML.
'use strict';

(() => {
  const TOKEN_KEY = 'modelrelay-admin-token';
  const THEME_KEY = 'modelrelay-theme';
  const TABS = ['rankings', 'providers', 'settings', 'logs', 'setup'];
  const STATUS_LABELS = {
    up: 'Up', pending: 'Pending', rate_limited: 'Rate-limited', down: 'Down', failing: 'Failing',
    no_key: 'No key', banned: 'Banned', disabled: 'Disabled', excluded: 'Excluded',
  };
  const STATUS_ORDER = Object.keys(STATUS_LABELS);
  const MAX_LOGS = 200;

  // ---------------------------------------------------------------------------------------------
  // DOM helpers

  const $ = (sel, root = document) => root.querySelector(sel);
  const byId = (id) => document.getElementById(id);
  const SVG_NS = 'http://www.w3.org/2000/svg';

  /** createElement with props; strings become text nodes, so server data is never parsed as HTML. */
  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    setProps(el, props);
    appendAll(el, children);
    return el;
  }

  function svg(tag, attrs, ...children) {
    const el = document.createElementNS(SVG_NS, tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v == null) continue;
        if (k === 'class') el.setAttribute('class', v);
        else el.setAttribute(k, String(v));
      }
    }
    appendAll(el, children);
    return el;
  }

  function setProps(el, props) {
    if (!props) return;
    for (const [k, v] of Object.entries(props)) {
      if (v == null || v === false) continue;
      if (typeof v === 'function') {
        if (k.startsWith('on')) el.addEventListener(k.slice(2).toLowerCase(), v);
        continue;
      }
      if (k === 'style' || k === 'innerHTML' || k.startsWith('on')) continue; // CSP and safety
      if (k === 'class') el.className = Array.isArray(v) ? v.filter(Boolean).join(' ') : v;
      else if (k === 'dataset') {
        for (const [dk, dv] of Object.entries(v)) if (dv != null) el.dataset[dk] = String(dv);
      } else if (k === 'text') el.textContent = String(v);
      else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'open') el[k] = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }

  function appendAll(el, children) {
    for (const c of children.flat(Infinity)) {
      if (c == null || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
  }

  function fill(el, ...children) {
    el.replaceChildren();
    appendAll(el, children);
    return el;
  }

  function setText(el, text) {
    const t = text == null ? '' : String(text);
    if (el.textContent !== t) el.textContent = t;
  }

  function show(el, visible) {
    if (el.hidden === !visible) return;
    el.hidden = !visible;
  }

  /** Moves a node without dropping focus where the browser supports it. */
  function moveBefore(parent, node, ref) {
    if (typeof parent.moveBefore === 'function' && node.isConnected && parent.isConnected) {
      try { parent.moveBefore(node, ref); return; } catch (_) { /* fall back */ }
    }
    parent.insertBefore(node, ref);
  }

  /** Only http(s) links from the server become hrefs. */
  function safeUrl(url) {
    if (typeof url !== 'string' || url === '') return null;
    try {
      const u = new URL(url, location.href);
      return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
    } catch (_) {
      return null;
    }
  }

  const isTextual = (el) =>
    el instanceof HTMLTextAreaElement || el instanceof HTMLSelectElement ||
    (el instanceof HTMLInputElement && !['checkbox', 'radio', 'button', 'submit', 'reset'].includes(el.type));

  /** True while the user is typing in (or has unsaved edits in) this field. */
  function isEditing(el) {
    if (!el) return false;
    if (el.dataset.dirty === '1' || el.dataset.pending === '1') return true;
    return el === document.activeElement && isTextual(el);
  }

  /** Applies a server value to an input unless the user is editing it. */
  function setField(el, value, { force = false } = {}) {
    if (!el) return;
    const asText = value == null ? '' : String(value);
    el.dataset.server = asText;
    if (!force && isEditing(el)) return;
    if (force) { delete el.dataset.dirty; el.classList.remove('is-dirty'); }
    if (el.type === 'checkbox' || el.type === 'radio') {
      const on = Boolean(value);
      if (el.checked !== on) el.checked = on;
    } else if (el.value !== asText) {
      el.value = asText;
    }
  }

  /** Marks a text field dirty when it differs from the last server value. */
  function trackDirty(el, onChange) {
    const update = () => {
      const dirty = el.value !== (el.dataset.server ?? '');
      if (dirty) el.dataset.dirty = '1'; else delete el.dataset.dirty;
      el.classList.toggle('is-dirty', dirty);
      if (onChange) onChange(dirty);
    };
    el.addEventListener('input', update);
    el.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape' && el.dataset.dirty === '1') {
        ev.stopPropagation();
        el.value = el.dataset.server ?? '';
        update();
      }
    });
    return update;
  }

  // ---------------------------------------------------------------------------------------------
  // Formatting

  const dash = '—';
  const isNum = (v) => typeof v === 'number' && Number.isFinite(v);

  function fmtMs(v) {
    if (!isNum(v)) return dash;
    if (v < 1000) return `${Math.round(v)} ms`;
    return `${(v / 1000).toFixed(v < 10000 ? 2 : 1)} s`;
  }

  function fmtPct(v) {
    if (!isNum(v)) return dash;
    const p = v * 100;
    if (p >= 99.95) return '100%';
    return `${p.toFixed(p >= 99 || (p > 0 && p < 1) ? 1 : 0)}%`;
  }

  function fmtContext(n) {
    if (!isNum(n) || n <= 0) return dash;
    if (n >= 1000000) return `${+(n / 1048576).toFixed(n % 1048576 ? 1 : 0)}M`;
    if (n >= 1024) return `${Math.round(n / 1024)}K`;
    return String(n);
  }

  function fmtAgo(seconds) {
    if (!isNum(seconds)) return dash;
    const s = Math.max(0, seconds);
    if (s < 1) return 'just now';
    if (s < 60) return `${Math.round(s)} s ago`;
    if (s < 3600) return `${Math.round(s / 60)} min ago`;
    if (s < 86400) return `${Math.round(s / 3600)} h ago`;
    return `${Math.round(s / 86400)} d ago`;
  }

  function fmtDuration(seconds) {
    if (!isNum(seconds)) return dash;
    const s = Math.max(0, Math.round(seconds));
    if (s < 60) return `${s} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60 ? `${s % 60} s` : ''}`.trim();
    if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
    return `${Math.floor(s / 86400)} d ${Math.round((s % 86400) / 3600)} h`;
  }

  function fmtClock(ms) {
    const d = new Date(ms);
    const now = new Date();
    const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
    if (d.toDateString() === now.toDateString()) return time;
    return `${d.toLocaleDateString([], { month: 'short', day: 'numeric' })} ${time}`;
  }

  function fmtInt(n) {
    return isNum(n) ? Math.round(n).toLocaleString() : dash;
  }

  function fmtValue(v) {
    if (v === undefined) return 'unset';
    const t = JSON.stringify(v);
    return t.length > 80 ? `${t.slice(0, 77)}…` : t;
  }

  const statusLabel = (s) => STATUS_LABELS[s] || String(s ?? 'unknown');

  function statusBadge(status) {
    const cls = STATUS_LABELS[status] ? `st-${status}` : 'st-unknown';
    return h('span', { class: ['status', cls] }, h('span', { class: 'dot', 'aria-hidden': 'true' }), statusLabel(status));
  }

  // ---------------------------------------------------------------------------------------------
  // Toasts

  const toastBox = byId('toast');

  function toast(message, kind = 'error', timeoutMs) {
    const text = String(message || 'Something went wrong');
    for (const item of toastBox.children) {
      if (item.dataset.text === text) {
        const n = Number(item.dataset.count || 1) + 1;
        item.dataset.count = String(n);
        setText($('.toast-count', item), `×${n}`);
        return;
      }
    }
    const close = h('button', { type: 'button', class: 'toast-close', 'aria-label': 'Dismiss notification' }, '×');
    const item = h('div', {
      class: ['toast-item', `toast-${kind}`],
      role: kind === 'error' ? 'alert' : 'status',
      dataset: { text },
    }, h('span', { class: 'toast-text' }, text), h('span', { class: 'toast-count' }), close);
    const remove = () => {
      item.remove();
      show(toastBox, toastBox.children.length > 0);
    };
    close.addEventListener('click', remove);
    toastBox.append(item);
    while (toastBox.children.length > 5) toastBox.firstElementChild.remove();
    show(toastBox, true);
    const ttl = timeoutMs ?? (kind === 'error' ? 0 : 4000);
    if (ttl > 0) setTimeout(remove, ttl);
  }

  function showError(err) {
    if (!err || err.name === 'AbortError') return;
    toast(err.message || String(err), 'error');
  }

  // ---------------------------------------------------------------------------------------------
  // API access: one helper adds the JSON content type and the admin token, and asks for the token
  // on 401.

  class ApiError extends Error {
    constructor(message, status, code) {
      super(message);
      this.name = 'ApiError';
      this.status = status;
      this.code = code || null;
    }
  }

  function getToken() {
    try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch (_) { return ''; }
  }

  function authHeaders(extra) {
    const headers = { ...extra };
    const token = getToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    return headers;
  }

  async function readBody(res) {
    const text = await res.text().catch(() => '');
    if (!text) return null;
    try { return JSON.parse(text); } catch (_) { return { raw: text }; }
  }

  function errorMessage(payload, res) {
    const e = payload && payload.error;
    if (e && typeof e === 'object' && e.message) return String(e.message);
    if (typeof e === 'string') return e;
    return `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
  }

  async function api(path, options = {}) {
    const method = (options.method || 'GET').toUpperCase();
    const changes = method !== 'GET' && method !== 'HEAD';
    for (let attempt = 0; ; attempt++) {
      const headers = authHeaders({ Accept: 'application/json' });
      const init = { method, headers, cache: 'no-store', credentials: 'same-origin', signal: options.signal };
      if (changes) {
        // The engine only accepts JSON bodies on state-changing requests; POST/PUT/PATCH always
        // send one ({} when the call has no parameters).
        headers['Content-Type'] = 'application/json';
        if (options.body !== undefined || method !== 'DELETE') init.body = JSON.stringify(options.body ?? {});
      }
      let res;
      try {
        res = await fetch(path, init);
      } catch (err) {
        if (err.name === 'AbortError') throw err;
        throw new ApiError('Cannot reach the router. Is modelrelay running?', 0, 'network');
      }
      const payload = await readBody(res);
      if (res.status === 401 && attempt < 5) {
        await askForToken(attempt > 0 || getToken() ? 'That token was not accepted.' : '');
        continue;
      }
      if (!res.ok) throw new ApiError(errorMessage(payload, res), res.status, payload?.error?.code);
      return payload ?? {};
    }
  }

  // Admin-token dialog: one prompt shared by every request that got a 401.
  const tokenDialog = byId('token-dialog');
  let tokenPrompt = null;
  let tokenWaiters = [];
  let tokenDeclined = false; // the user cancelled the prompt: background work waits for a token quietly

  function askForToken(reason) {
    if (tokenPrompt) return tokenPrompt;
    tokenPrompt = new Promise((resolve, reject) => {
      const err = byId('token-error');
      setText(err, reason || '');
      show(err, Boolean(reason));
      const input = byId('token-input');
      input.value = '';
      const finish = (token) => {
        tokenDialog.removeEventListener('close', onClose);
        byId('token-form').removeEventListener('submit', onSubmit);
        byId('token-cancel').removeEventListener('click', onCancel);
        if (tokenDialog.open) tokenDialog.close();
        tokenPrompt = null;
        tokenDeclined = !token;
        if (token) {
          try { sessionStorage.setItem(TOKEN_KEY, token); } catch (_) { /* private mode */ }
          const waiters = tokenWaiters;
          tokenWaiters = [];
          waiters.forEach((w) => w());
          resolve();
        } else {
          reject(new ApiError('The admin token is required to use this page.', 401, 'unauthorized'));
        }
      };
      const onSubmit = (ev) => {
        ev.preventDefault();
        const token = input.value.trim();
        if (!token) {
          setText(err, 'Enter the admin token.');
          show(err, true);
          input.focus();
          return;
        }
        finish(token);
      };
      const onCancel = () => finish(null);
      const onClose = () => finish(null);
      byId('token-form').addEventListener('submit', onSubmit);
      byId('token-cancel').addEventListener('click', onCancel);
      tokenDialog.addEventListener('close', onClose);
      if (!tokenDialog.open) tokenDialog.showModal();
      input.focus();
    });
    return tokenPrompt;
  }

  /** Resolves the next time a token is stored (used by the event stream after a cancelled prompt). */
  const nextToken = () => new Promise((resolve) => tokenWaiters.push(resolve));

  // ---------------------------------------------------------------------------------------------
  // Theme: follows prefers-color-scheme unless the user picked one (stored in localStorage).

  const THEMES = ['system', 'light', 'dark'];
  const THEME_NAMES = { system: 'System', light: 'Light', dark: 'Dark' };

  function storedTheme() {
    try {
      const t = localStorage.getItem(THEME_KEY);
      return t === 'light' || t === 'dark' ? t : 'system';
    } catch (_) {
      return 'system';
    }
  }

  function applyTheme(theme) {
    const root = document.documentElement;
    if (theme === 'system') delete root.dataset.theme; else root.dataset.theme = theme;
    const next = THEMES[(THEMES.indexOf(theme) + 1) % THEMES.length];
    setText(byId('theme-label'), THEME_NAMES[theme]);
    const btn = byId('theme-toggle');
    btn.setAttribute('aria-label', `Theme: ${theme === 'system' ? 'follows the system' : THEME_NAMES[theme]}. Switch to ${THEME_NAMES[next].toLowerCase()}.`);
    btn.title = `Theme: ${THEME_NAMES[theme]} (click for ${THEME_NAMES[next].toLowerCase()})`;
  }

  function initTheme() {
    applyTheme(storedTheme());
    byId('theme-toggle').addEventListener('click', () => {
      const next = THEMES[(THEMES.indexOf(storedTheme()) + 1) % THEMES.length];
      try {
        if (next === 'system') localStorage.removeItem(THEME_KEY); else localStorage.setItem(THEME_KEY, next);
      } catch (_) { /* storage unavailable: apply for this page only */ }
      applyTheme(next);
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Tabs (WAI-ARIA tabs pattern, selected tab kept in the URL hash)

  let currentTab = 'rankings';

  function selectTab(name, { focus = false } = {}) {
    if (!TABS.includes(name)) return;
    currentTab = name;
    for (const t of TABS) {
      const tab = byId(`tab-${t}`);
      const on = t === name;
      tab.setAttribute('aria-selected', String(on));
      tab.tabIndex = on ? 0 : -1;
      show(byId(`panel-${t}`), on);
    }
    if (focus) byId(`tab-${name}`).focus();
    if (location.hash.slice(1) !== name) history.replaceState(null, '', `#${name}`);
    if (name === 'logs') markLogsSeen();
  }

  function initTabs() {
    const list = $('.tabs');
    list.addEventListener('click', (ev) => {
      const tab = ev.target.closest('[role="tab"]');
      if (tab) selectTab(tab.dataset.tab);
    });
    list.addEventListener('keydown', (ev) => {
      const i = TABS.indexOf(currentTab);
      let next = null;
      if (ev.key === 'ArrowRight') next = TABS[(i + 1) % TABS.length];
      else if (ev.key === 'ArrowLeft') next = TABS[(i - 1 + TABS.length) % TABS.length];
      else if (ev.key === 'Home') next = TABS[0];
      else if (ev.key === 'End') next = TABS[TABS.length - 1];
      if (next) {
        ev.preventDefault();
        selectTab(next, { focus: true });
      }
    });
    window.addEventListener('hashchange', () => {
      const name = location.hash.slice(1);
      if (TABS.includes(name)) selectTab(name);
    });
    const initial = location.hash.slice(1);
    selectTab(TABS.includes(initial) ? initial : 'rankings');
  }

  // ---------------------------------------------------------------------------------------------
  // Shared state (last bodies from the API)

  const state = {
    status: null,
    models: [],
    modelsById: new Map(),
    modelsReceivedAt: 0,
    autoFastest: null,
    pinned: null,
    pinningMode: null,
    providers: [], // from /api/providers, plus `keyInfo` (its key status)
    endpoints: new Map(), // provider key -> endpoint id
    settings: null,
  };

  // ---------------------------------------------------------------------------------------------
  // Header

  function renderHeader() {
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
  }

  function providerName(key) {
    const p = state.providers.find((x) => x.key === key);
    return p?.name || key || '';
  }

  let statusTimer = null;
  /** /api/status has the header counts; refresh it (throttled) when a pushed event says things changed. */
  function scheduleStatus(delay = 1500) {
    if (statusTimer) return;
    statusTimer = setTimeout(() => {
      statusTimer = null;
      loadStatus().catch(() => {});
    }, delay);
  }

  async function loadStatus() {
    state.status = await api('/api/status');
    renderHeader();
    renderSetup();
  }

  // ---------------------------------------------------------------------------------------------
  // Rankings

  const COLUMNS = ['rank', 'model', 'provider', 'status', 'ttft', 'latency', 'trend', 'tps',
    'uptime', 'ratelimit', 'score', 'context', 'caps', 'actions'];

  const SORT_KEYS = {
    rank: (r) => r.rank,
    name: (r) => (r.name || r.modelId || r.id || '').toLowerCase(),
    group: (r) => (r.group || '').toLowerCase(),
    provider: (r) => (r.providerName || r.provider || '').toLowerCase(),
    status: (r) => { const i = STATUS_ORDER.indexOf(r.status); return i < 0 ? STATUS_ORDER.length : i; },
    ttft: (r) => r.ttftMs,
    latency: (r) => r.expectedMs,
    tps: (r) => r.tokensPerSecond,
    uptime: (r) => r.uptime,
    ratelimit: (r) => r.rateLimit?.coolingForSeconds ?? null,
    score: (r) => r.score,
    context: (r) => r.context,
  };
  // Columns where "bigger is better" sort descending on the first click.
  const DESC_FIRST = new Set(['tps', 'uptime', 'score', 'context', 'ratelimit']);

  const rk = {
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

  function rowMatches(r) {
    const provider = byId('filter-provider').value;
    const status = byId('filter-status').value;
    const usable = byId('filter-usable').checked;
    const q = byId('search').value.trim().toLowerCase();
    if (provider && r.provider !== provider) return false;
    if (status && r.status !== status) return false;
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

  function sparkline(samples, width = 80, height = 24, withAxis = false) {
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
      if (s.outcome !== 'success') {
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

  function rateLimitInfo(r, receivedAt) {
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
    const errMsg = r.lastError?.message || '';
    setCell(rec, 'status', `${r.status}|${errMsg}`, () => {
      const b = statusBadge(r.status);
      if (errMsg && r.status !== 'up') b.title = errMsg;
      return b;
    });
    setCell(rec, 'ttft', `${r.ttftMs}|${r.ttftP95Ms}`, () => [
      h('div', null, fmtMs(r.ttftMs)),
      isNum(r.ttftP95Ms) ? h('div', { class: 'sub' }, `p95 ${fmtMs(r.ttftP95Ms)}`) : null,
    ]);
    const last = (r.samples || [])[0];
    const lastTotal = last && last.outcome === 'success' ? last.totalMs : null;
    setCell(rec, 'latency', `${r.expectedMs}|${lastTotal}`, () => [
      h('div', { title: 'Expected time for a request, used for ranking' }, fmtMs(r.expectedMs)),
      isNum(lastTotal) ? h('div', { class: 'sub' }, `last ${fmtMs(lastTotal)}`) : null,
    ]);
    const sampleSig = (r.samples || []).map((s) => `${s.ttftMs},${s.totalMs},${s.outcome}`).join('|');
    setCell(rec, 'trend', sampleSig, () => sparkline(r.samples));
    setCell(rec, 'tps', String(r.tokensPerSecond), () => (isNum(r.tokensPerSecond) ? String(Math.round(r.tokensPerSecond)) : dash));
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

  function applyModels(body) {
    if (!body || !Array.isArray(body.models)) return;
    state.models = body.models;
    state.modelsById = new Map(body.models.map((m) => [m.id, m]));
    state.modelsReceivedAt = Date.now();
    state.autoFastest = body.autoFastest ?? null;
    state.pinned = body.pinned ?? null;
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
    renderDrawer();
  }

  /** Applies order and filters. Row order is held while the pointer is on the table. */
  function renderRankingsView() {
    const body = rk.body;
    const ordered = sortedRows();
    let shown = 0;
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

  function syncProviderFilter() {
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

  function renderPinBanner() {
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

  async function loadModels() {
    applyModels(await api('/api/models'));
  }

  async function togglePin(row, btn) {
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

  async function toggleBan(row, btn) {
    await queued(btn, async () => {
      await api('/api/models/ban', { method: 'POST', body: { modelId: row.id, banned: !row.banned } });
      toast(`${row.banned ? 'Unbanned' : 'Banned'} ${row.name || row.modelId}`, 'info');
      await loadModels();
    });
  }

  const queues = new WeakMap();

  /**
   * For toggles (pin, ban): a click while the previous one is still in flight runs after it, with
   * the intent read at click time, instead of being dropped.
   */
  function queued(btn, fn) {
    const prev = queues.get(btn) || Promise.resolve();
    const next = prev.then(() => withBusy(btn, fn, { queue: true }));
    queues.set(btn, next);
    return next;
  }

  /** Runs an action once at a time per button, reporting errors; never disables (keeps focus). */
  async function withBusy(btn, fn, { queue = false } = {}) {
    if (btn && btn.dataset.busy === '1' && !queue) return undefined;
    if (btn) { btn.dataset.busy = '1'; btn.setAttribute('aria-busy', 'true'); }
    try {
      return await fn();
    } catch (err) {
      showError(err);
      return undefined;
    } finally {
      if (btn) { delete btn.dataset.busy; btn.removeAttribute('aria-busy'); }
    }
  }

  function initRankings() {
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
      openDrawer(tr.dataset.rowId);
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
        openDrawer(tr.dataset.rowId);
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
    byId('unpin').addEventListener('click', (ev) => unpin(ev.currentTarget));
    byId('auto-fastest').addEventListener('click', () => {
      const id = byId('auto-fastest').dataset.rowId;
      if (id && state.modelsById.has(id)) { selectTab('rankings'); openDrawer(id); }
    });
    renderRankingsView();
  }

  // ---------------------------------------------------------------------------------------------
  // Drawer (row details)

  const drawer = { id: null, returnFocus: null, lastRow: null };

  function openDrawer(id) {
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

  function fact(label, value, title) {
    return [h('dt', null, label), h('dd', { title: title || null }, value)];
  }

  function renderDrawer() {
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
        fact('Expected', fmtMs(r.expectedMs)),
        fact('TTFT', `${fmtMs(r.ttftMs)} (p95 ${fmtMs(r.ttftP95Ms)})`),
        fact('Throughput', isNum(r.tokensPerSecond) ? `${Math.round(r.tokensPerSecond)} tok/s` : dash),
        fact('Uptime', fmtPct(r.uptime)),
        fact('Error rate', fmtPct(r.errorRate)),
        fact('Rate limit', rl.limited ? `limited ${rl.text}` : rl.text, rl.title),
        fact('Coding score', `${fmtPct(r.score)}${r.scoreSource ? ` · ${r.scoreSource}` : ''}`),
        fact('Context', isNum(r.context) ? `${fmtContext(r.context)} (${fmtInt(r.context)} tokens)` : dash),
        fact('Capabilities', [r.tools ? 'tools' : null, r.vision ? 'vision' : null].filter(Boolean).join(', ') || dash),
        (r.tags && r.tags.length) ? fact('Tags', r.tags.join(', ')) : null,
        r.origin ? fact('Origin', r.origin) : null),
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
                h('tbody', null, samples.map((s) => h('tr', { class: s.outcome === 'success' ? null : s.outcome === 'rate_limited' ? 'is-rl' : 'is-fail' },
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

  function initDrawer() {
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

  // ---------------------------------------------------------------------------------------------
  // Providers

  const pv = { cards: new Map() }; // key -> card refs

  function endpointIdFor(key) {
    if (state.endpoints.has(key)) return state.endpoints.get(key);
    const p = state.providers.find((x) => x.key === key);
    if (p && typeof p.id === 'string' && p.id) return p.id;
    return key.startsWith('openai-compatible:') ? key.slice('openai-compatible:'.length) : key;
  }

  /** A button that must be clicked twice (within 4 s) — used instead of confirm() for deletions. */
  function confirmTwice(btn, label, confirmLabel, action) {
    let timer = null;
    btn.addEventListener('click', async () => {
      if (btn.dataset.confirming !== '1') {
        btn.dataset.confirming = '1';
        btn.classList.add('btn-danger');
        setText(btn, confirmLabel);
        timer = setTimeout(() => {
          delete btn.dataset.confirming;
          btn.classList.remove('btn-danger');
          setText(btn, label);
        }, 4000);
        return;
      }
      clearTimeout(timer);
      delete btn.dataset.confirming;
      btn.classList.remove('btn-danger');
      setText(btn, label);
      await action();
    });
  }

  function createCard(p) {
    const key = p.key;
    const enc = encodeURIComponent(key);
    const uid = `p-${key.replace(/[^a-zA-Z0-9_-]/g, '_')}`;
    const refs = { key };

    refs.title = h('h3', { class: 'card-title' });
    refs.kind = h('span', { class: 'badge badge-muted' });
    refs.enabled = h('input', { type: 'checkbox', dataset: { field: 'enabled' } });
    refs.enabledLabel = h('label', { class: 'switch switch-compact' }, refs.enabled, h('span', null, 'Enabled'));
    refs.facts = h('div', { class: 'provider-facts' });
    refs.keyStatus = h('div', { class: 'key-status', dataset: { role: 'key-status' } });

    // Key: write-only.
    refs.keyInput = h('input', {
      class: 'input mono', type: 'password', name: 'apiKey', autocomplete: 'new-password', spellcheck: 'false',
      id: `${uid}-key`, dataset: { field: 'apiKey' },
    });
    refs.keySave = h('button', { class: 'btn btn-primary', type: 'submit', dataset: { action: 'save-key' } }, 'Save key');
    refs.keyDelete = h('button', { class: 'btn btn-ghost btn-small', type: 'button', dataset: { action: 'delete-key' } }, 'Delete key');
    // A hidden username field keeps browsers from pairing the key with a saved login.
    refs.keyForm = h('form', { class: 'inline-form', dataset: { form: 'key' }, autocomplete: 'off', novalidate: true },
      h('input', { type: 'text', name: 'username', autocomplete: 'username', value: `modelrelay-${key}`, hidden: true, tabindex: '-1', 'aria-hidden': 'true' }),
      h('label', { class: 'field-label', for: `${uid}-key` }, 'API key'),
      h('div', { class: 'inline-row' }, refs.keyInput, refs.keySave));

    // Base URL.
    refs.baseUrl = h('input', { class: 'input mono', type: 'url', name: 'baseUrl', spellcheck: 'false', id: `${uid}-base`, dataset: { field: 'baseUrl' } });
    refs.baseSave = h('button', { class: 'btn', type: 'submit', dataset: { action: 'save-base-url' } }, 'Save');
    refs.baseReset = h('button', { class: 'btn btn-ghost', type: 'button', dataset: { action: 'reset-base-url' }, title: 'Restore the default base URL' }, 'Default');
    refs.baseForm = h('form', { class: 'inline-form', dataset: { form: 'base-url' }, novalidate: true },
      h('label', { class: 'field-label', for: `${uid}-base` }, 'Base URL'),
      h('div', { class: 'inline-row' }, refs.baseUrl, refs.baseSave, refs.baseReset));

    // OpenAI-compatible endpoint details.
    refs.epName = h('input', { class: 'input', type: 'text', name: 'name', dataset: { field: 'name' } });
    refs.epModel = h('input', { class: 'input mono', type: 'text', name: 'modelId', spellcheck: 'false', dataset: { field: 'modelId' } });
    refs.epGroup = h('input', { class: 'input mono', type: 'text', name: 'group', spellcheck: 'false', dataset: { field: 'group' } });
    refs.epDiscover = h('input', { type: 'checkbox', name: 'discoverModels', dataset: { field: 'discoverModels' } });
    refs.epRemove = h('button', { class: 'btn btn-ghost', type: 'button', dataset: { action: 'remove-endpoint' } }, 'Remove endpoint');
    refs.epForm = h('form', { class: 'endpoint-fields', dataset: { form: 'endpoint' }, novalidate: true, hidden: true },
      h('label', { class: 'field' }, h('span', null, 'Name'), refs.epName),
      h('label', { class: 'field' }, h('span', null, 'Model id'), refs.epModel),
      h('label', { class: 'field' }, h('span', null, 'Group'), refs.epGroup),
      h('label', { class: 'check' }, refs.epDiscover, ' Discover models'),
      h('div', { class: 'form-actions' },
        h('button', { class: 'btn', type: 'submit', dataset: { action: 'save-endpoint' } }, 'Save endpoint'),
        refs.epRemove));

    refs.refresh = h('button', { class: 'btn', type: 'button', dataset: { action: 'refresh' } }, 'Refresh models');
    refs.refreshResult = h('span', { class: 'muted', role: 'status', dataset: { role: 'refresh-result' } });
    refs.signup = h('a', { class: 'link', target: '_blank', rel: 'noopener noreferrer', dataset: { role: 'signup' } }, 'Get a key ↗');
    refs.error = h('div', { class: 'error-box', dataset: { role: 'latest-error' }, hidden: true });
    refs.rate = h('div', { class: 'rate-box', dataset: { role: 'rate-limit' }, hidden: true });

    refs.el = h('article', { class: 'card provider-card', dataset: { provider: key }, 'aria-labelledby': `${uid}-title` },
      h('header', { class: 'card-head' },
        h('div', { class: 'card-head-title' }, refs.title, refs.kind),
        refs.enabledLabel),
      refs.facts,
      h('div', { class: 'key-line' }, refs.keyStatus, refs.keyDelete),
      refs.keyForm,
      refs.baseForm,
      refs.epForm,
      h('div', { class: 'card-actions' }, refs.refresh, refs.refreshResult, h('span', { class: 'toolbar-spacer' }), refs.signup),
      refs.rate,
      refs.error);
    refs.title.id = `${uid}-title`;

    // Behaviour.
    refs.enabled.addEventListener('change', async () => {
      const want = refs.enabled.checked;
      refs.enabled.dataset.pending = '1';
      try {
        await api(`/api/providers/${enc}`, { method: 'POST', body: { enabled: want } });
        toast(`${refs.title.textContent} ${want ? 'enabled' : 'disabled'}`, 'info');
        delete refs.enabled.dataset.pending;
        await loadProviders();
      } catch (err) {
        delete refs.enabled.dataset.pending;
        refs.enabled.checked = refs.enabled.dataset.server === 'true';
        showError(err);
      }
    });

    const keyDirty = trackDirty(refs.keyInput);
    refs.keyForm.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const apiKey = refs.keyInput.value.trim();
      if (!apiKey) { toast('Paste a key first.', 'error'); refs.keyInput.focus(); return; }
      await withBusy(refs.keySave, async () => {
        await api(`/api/providers/${enc}/key`, { method: 'PUT', body: { apiKey } });
        refs.keyInput.value = '';
        keyDirty();
        toast(`Key saved for ${refs.title.textContent}`, 'info');
        await loadProviders();
      });
    });
    confirmTwice(refs.keyDelete, 'Delete key', 'Click again to delete', () => withBusy(refs.keyDelete, async () => {
      await api(`/api/providers/${enc}/key`, { method: 'DELETE' });
      toast(`Key deleted for ${refs.title.textContent}`, 'info');
      await loadProviders();
    }));

    trackDirty(refs.baseUrl);
    const saveBase = (value) => withBusy(refs.baseSave, async () => {
      await api(`/api/providers/${enc}`, { method: 'POST', body: { baseUrl: value } });
      toast(value ? 'Base URL saved' : 'Base URL restored to the default', 'info');
      const list = await loadProviders();
      const fresh = list?.find((x) => x.key === key);
      setField(refs.baseUrl, fresh ? fresh.baseUrl : value, { force: true });
    });
    refs.baseForm.addEventListener('submit', (ev) => {
      ev.preventDefault();
      saveBase(refs.baseUrl.value.trim());
    });
    refs.baseReset.addEventListener('click', () => saveBase(''));

    const epDirty = [refs.epName, refs.epModel, refs.epGroup].map((el) => trackDirty(el));
    refs.epForm.addEventListener('submit', (ev) => {
      ev.preventDefault();
      withBusy(ev.submitter || null, async () => {
        await api(`/api/providers/${enc}`, {
          method: 'POST',
          body: {
            name: refs.epName.value.trim(),
            modelId: refs.epModel.value.trim(),
            group: refs.epGroup.value.trim(),
            discoverModels: refs.epDiscover.checked,
          },
        });
        toast('Endpoint saved', 'info');
        const list = await loadProviders();
        const fresh = list?.find((x) => x.key === key);
        if (fresh) {
          setField(refs.epName, fresh.name, { force: true });
          setField(refs.epModel, fresh.modelId, { force: true });
          setField(refs.epGroup, fresh.group, { force: true });
          setField(refs.epDiscover, fresh.discoverModels, { force: true });
        }
        epDirty.forEach((f) => f());
      });
    });
    refs.epDiscover.addEventListener('change', () => { refs.epDiscover.dataset.dirty = '1'; });
    confirmTwice(refs.epRemove, 'Remove endpoint', 'Click again to remove', () => withBusy(refs.epRemove, async () => {
      await api(`/api/openai-compatible/endpoints/${encodeURIComponent(endpointIdFor(key))}`, { method: 'DELETE' });
      toast(`Removed ${refs.title.textContent}`, 'info');
      await Promise.all([loadProviders(), loadModels()]);
    }));

    refs.refresh.addEventListener('click', () => withBusy(refs.refresh, async () => {
      setText(refs.refreshResult, 'Refreshing…');
      refs.refreshResult.className = 'muted';
      try {
        const res = await api(`/api/providers/${enc}/refresh`, { method: 'POST' });
        if (res.ok === false) {
          refs.refreshResult.className = 'is-error';
          setText(refs.refreshResult, `Failed${res.error ? `: ${res.error}` : ''}`);
        } else {
          refs.refreshResult.className = 'is-ok';
          const n = Array.isArray(res.models) ? res.models.length : res.models;
          setText(refs.refreshResult, `${fmtInt(n)} model${n === 1 ? '' : 's'}`);
        }
        await loadProviders();
      } catch (err) {
        refs.refreshResult.className = 'is-error';
        setText(refs.refreshResult, `Failed: ${err.message}`);
        throw err;
      }
    }));
    return refs;
  }

  function keyStatusText(p) {
    const k = p.keyInfo; // never a key value, only {set, source, count, hint}
    if (k && k.set) {
      const parts = ['Key set'];
      if (k.source) parts.push(`from ${k.source}`);
      if (k.hint) parts.push(k.hint);
      if (isNum(k.count) && k.count > 1) parts.push(`${k.count} keys`);
      return { set: true, text: parts.join(' · ') };
    }
    if (p.auth === 'none') return { set: false, text: 'No key needed' };
    if (p.auth === 'optional') return { set: false, text: 'No key (optional)' };
    return { set: false, text: 'No key set' };
  }

  function updateCard(refs, p) {
    setText(refs.title, p.name || refs.key);
    setText(refs.kind, p.kind === 'openai-compatible' ? 'OpenAI-compatible' : (p.kind || 'provider'));
    refs.el.classList.toggle('is-disabled', !p.enabled);
    setField(refs.enabled, Boolean(p.enabled));
    refs.enabled.setAttribute('aria-label', `Enable ${p.name || refs.key}`);

    const limits = p.limits || {};
    const lim = [['rpm', 'req/min'], ['rpd', 'req/day'], ['tpm', 'tok/min']]
      .filter(([k]) => isNum(limits[k])).map(([k, unit]) => `${fmtInt(limits[k])} ${unit}`);
    const facts = [
      ['Rows', `${fmtInt(p.rowsUp)} up of ${fmtInt(p.models)}`],
      p.discovery ? ['Discovered', `${fmtInt(p.discovery.models)}${p.discovery.lastError ? ' (last run failed)' : ''}`] : null,
      lim.length ? ['Free limits', lim.join(', ')] : null,
      isNum(p.pingIntervalMinutes) ? ['Probe every', `${p.pingIntervalMinutes} min`] : null,
      p.auth ? ['Auth', p.auth] : null,
    ].filter(Boolean);
    const sig = JSON.stringify(facts);
    if (refs.factsSig !== sig) {
      refs.factsSig = sig;
      fill(refs.facts, h('dl', { class: 'facts facts-compact' }, facts.map(([k, v]) => fact(k, v))));
    }

    const ks = keyStatusText(p);
    setText(refs.keyStatus, ks.text);
    refs.keyStatus.classList.toggle('is-set', ks.set);
    refs.keyStatus.classList.toggle('is-missing', !ks.set && p.auth === 'required');
    refs.keyInput.placeholder = ks.set ? 'Paste a new key to replace it' : 'Paste an API key';
    setText(refs.keySave, ks.set ? 'Replace key' : 'Save key');
    show(refs.keyDelete, ks.set && p.keyInfo?.source !== 'env');
    show(refs.keyForm, p.auth !== 'none');

    setField(refs.baseUrl, p.baseUrl || '');
    refs.baseUrl.placeholder = p.defaultBaseUrl || 'https://…/v1';
    show(refs.baseReset, Boolean(p.defaultBaseUrl) && p.baseUrl !== p.defaultBaseUrl);

    const isEndpoint = p.kind === 'openai-compatible';
    show(refs.epForm, isEndpoint);
    if (isEndpoint) {
      setField(refs.epName, p.name || '');
      setField(refs.epModel, p.modelId || '');
      setField(refs.epGroup, p.group || '');
      setField(refs.epDiscover, Boolean(p.discoverModels));
    }

    const href = safeUrl(p.signupUrl);
    show(refs.signup, Boolean(href));
    if (href && refs.signup.getAttribute('href') !== href) refs.signup.setAttribute('href', href);

    const err = p.latestError && p.latestError.message ? p.latestError : null;
    const discErr = p.discovery && p.discovery.lastError ? p.discovery.lastError : null;
    const errSig = JSON.stringify([err?.message, err && Math.round((err.secondsAgo || 0) / 60), discErr]);
    if (refs.errSig !== errSig) {
      refs.errSig = errSig;
      fill(refs.error,
        err ? [h('div', { class: 'small muted' }, `Latest error · ${fmtAgo(err.secondsAgo)}`), h('div', { class: 'error-text' }, err.message)] : null,
        discErr ? [h('div', { class: 'small muted' }, 'Model discovery'), h('div', { class: 'error-text' }, typeof discErr === 'string' ? discErr : JSON.stringify(discErr))] : null);
    }
    show(refs.error, Boolean(err || discErr));

    const rl = p.rateLimit || {};
    const cooling = isNum(rl.coolingForSeconds) && rl.coolingForSeconds > 0 ? rl.coolingForSeconds : null;
    if (cooling) {
      const at = Math.round((Date.now() + cooling * 1000) / 1000) * 1000;
      setText(refs.rate, `Rate-limited${rl.window ? ` (${rl.window})` : ''} until ${fmtClock(at)} — ${fmtDuration(cooling)} left`);
    }
    show(refs.rate, Boolean(cooling));
  }

  /** `key` is the provider id; the key status (never a key) is `apiKey: {set, source, count, hint}`. */
  function normalizeProvider(p) {
    const keyInfo = [p.apiKey, p.keyStatus].find((v) => v && typeof v === 'object') || null;
    return { ...p, keyInfo };
  }

  function applyProviders(body) {
    if (!body || !Array.isArray(body.providers)) return;
    state.providers = body.providers.filter((p) => p && typeof p.key === 'string').map(normalizeProvider);
    body = { providers: state.providers };
    const list = byId('providers-list');
    const seen = new Set();
    let cursor = list.firstElementChild;
    while (cursor && !cursor.dataset.provider) cursor = cursor.nextElementSibling;
    for (const p of body.providers) {
      seen.add(p.key);
      let refs = pv.cards.get(p.key);
      if (!refs) {
        refs = createCard(p);
        pv.cards.set(p.key, refs);
      }
      updateCard(refs, p);
      if (refs.el !== cursor) moveBefore(list, refs.el, cursor);
      else cursor = cursor.nextElementSibling;
    }
    for (const [key, refs] of pv.cards) {
      if (!seen.has(key)) { refs.el.remove(); pv.cards.delete(key); }
    }
    show(byId('providers-empty'), body.providers.length === 0);
    setText(byId('providers-empty'), 'No providers configured.');
    if (body.providers.some((p) => p.kind === 'openai-compatible' && !state.endpoints.has(p.key) && typeof p.id !== 'string')) {
      loadEndpoints().catch(() => {});
    }
    syncExcludedProviders();
    syncProviderFilter();
    renderHeader();
  }

  async function loadProviders() {
    applyProviders(await api('/api/providers'));
    return state.providers;
  }

  let endpointsLoading = null;
  function loadEndpoints() {
    if (endpointsLoading) return endpointsLoading;
    endpointsLoading = api('/api/openai-compatible/endpoints').then((body) => {
      state.endpoints = new Map((body.endpoints || [])
        .filter((e) => e && e.id != null)
        .map((e) => [typeof e.key === 'string' ? e.key : `openai-compatible:${e.id}`, e.id]));
    }).finally(() => { endpointsLoading = null; });
    return endpointsLoading;
  }

  function initProviders() {
    const form = byId('endpoint-form');
    const result = byId('endpoint-result');
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const f = form.elements;
      const name = f.name.value.trim();
      const baseUrl = f.baseUrl.value.trim();
      result.className = 'form-message';
      if (!name || !baseUrl) {
        result.className = 'form-message is-error';
        setText(result, !name ? 'Give the endpoint a name.' : 'Enter the base URL, e.g. http://localhost:8000/v1');
        (!name ? f.name : f.baseUrl).focus();
        return;
      }
      const body = { name, baseUrl, discoverModels: f.discoverModels.checked };
      for (const k of ['modelId', 'apiKey', 'group']) {
        const v = f[k].value.trim();
        if (v) body[k] = v;
      }
      await withBusy(byId('endpoint-submit'), async () => {
        try {
          const res = await api('/api/openai-compatible/endpoints', { method: 'POST', body });
          if (typeof res.key === 'string' && res.id != null) state.endpoints.set(res.key, res.id);
          form.reset();
          f.discoverModels.checked = true;
          result.className = 'form-message is-ok';
          setText(result, `Added ${name}.`);
          toast(`Endpoint ${name} added`, 'info');
          await Promise.all([loadProviders(), loadModels()]);
          const card = res.key ? pv.cards.get(res.key) : null;
          if (card) card.el.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
        } catch (err) {
          result.className = 'form-message is-error';
          setText(result, err.message);
          throw err;
        }
      });
    });

    byId('refresh-all').addEventListener('click', (ev) => withBusy(ev.currentTarget, async () => {
      const out = byId('refresh-all-result');
      setText(out, 'Refreshing…');
      try {
        const res = await api('/api/providers/refresh-all', { method: 'POST' });
        const list = res.providers || [];
        const ok = list.filter((x) => x.ok).length;
        const failed = list.length - ok;
        setText(out, `${ok} succeeded${failed ? `, ${failed} failed` : ''}`);
        for (const x of list) {
          const refs = pv.cards.get(x.key);
          if (!refs) continue;
          refs.refreshResult.className = x.ok ? 'is-ok' : 'is-error';
          setText(refs.refreshResult, x.ok ? `${fmtInt(Array.isArray(x.models) ? x.models.length : x.models)} models` : `Failed${x.error ? `: ${x.error}` : ''}`);
        }
        await loadProviders();
      } catch (err) {
        setText(out, '');
        throw err;
      }
    }));
  }

  // ---------------------------------------------------------------------------------------------
  // Settings

  function formDirty(form) {
    if (form.dataset.dirty === '1') return true;
    const a = document.activeElement;
    return Boolean(a && form.contains(a) && isTextual(a));
  }

  function markFormDirty(form, revertBtn) {
    form.dataset.dirty = '1';
    show(revertBtn, true);
  }

  function clearFormDirty(form, revertBtn) {
    delete form.dataset.dirty;
    show(revertBtn, false);
  }

  function syncExcludedProviders() {
    const box = byId('excluded-providers');
    const form = byId('filter-form');
    const excluded = new Set(state.settings?.excludedProviders || []);
    const wanted = state.providers.map((p) => [p.key, p.name || p.key]);
    for (const key of excluded) if (!wanted.some(([k]) => k === key)) wanted.push([key, key]);
    const existing = new Map([...box.querySelectorAll('input')].map((i) => [i.value, i]));
    let cursor = box.firstElementChild;
    for (const [key, name] of wanted) {
      let input = existing.get(key);
      let label;
      if (!input) {
        input = h('input', { type: 'checkbox', name: 'excludedProviders', value: key });
        label = h('label', { class: 'check' }, input, h('span', null, name));
      } else {
        label = input.closest('label');
        setText(label.querySelector('span'), name);
        existing.delete(key);
      }
      if (label !== cursor) moveBefore(box, label, cursor); else cursor = cursor.nextElementSibling;
      if (!formDirty(form)) input.checked = excluded.has(key);
    }
    for (const input of existing.values()) input.closest('label').remove();
    if (!wanted.length) fill(box, h('span', { class: 'muted' }, 'No providers yet.'));
    else box.querySelectorAll(':scope > span.muted').forEach((n) => n.remove());
  }

  function applySettings(s, { force = false } = {}) {
    if (!s || typeof s !== 'object') return;
    state.settings = s;
    if (s.pinningMode) state.pinningMode = s.pinningMode;

    for (const radio of document.querySelectorAll('input[name="pinningMode"]')) {
      if (radio.dataset.pending !== '1') radio.checked = radio.value === s.pinningMode;
    }

    const filter = byId('filter-form');
    if (force || !formDirty(filter)) {
      clearFormDirty(filter, byId('filter-revert'));
      const pct = isNum(s.minSweScore) ? Math.round(s.minSweScore * 1000) / 10 : '';
      byId('min-score').value = String(pct);
    }
    syncExcludedProviders();

    setField(byId('auto-ping'), Boolean(s.autoPingEnabled));
    setField(byId('autostart'), Boolean(s.autostart?.enabled));
    setField(byId('log-prompts'), Boolean(s.logPrompts));

    const au = byId('auto-update-form');
    if (force || !formDirty(au)) {
      clearFormDirty(au, byId('auto-update-revert'));
      byId('auto-update-enabled').checked = Boolean(s.autoUpdate?.enabled);
      byId('auto-update-interval').value = isNum(s.autoUpdate?.intervalHours) ? String(s.autoUpdate.intervalHours) : '';
    }
    renderHeader();
    renderPinBanner();
  }

  async function loadSettings(opts) {
    applySettings(await api('/api/settings'), opts);
  }

  /** Immediate-apply toggle: sends on change, reverts on failure. */
  function bindToggle(input, bodyFor, describe) {
    input.addEventListener('change', async () => {
      const want = input.checked;
      input.dataset.pending = '1';
      try {
        const s = await api('/api/settings', { method: 'POST', body: bodyFor(want) });
        delete input.dataset.pending;
        toast(describe(want), 'info');
        if (s && typeof s === 'object' && 'pinningMode' in s) applySettings(s);
        else await loadSettings();
      } catch (err) {
        delete input.dataset.pending;
        input.checked = input.dataset.server === 'true';
        showError(err);
      }
    });
  }

  function initSettings() {
    for (const radio of document.querySelectorAll('input[name="pinningMode"]')) {
      radio.addEventListener('change', async () => {
        if (!radio.checked) return;
        radio.dataset.pending = '1';
        try {
          await api('/api/settings', { method: 'POST', body: { pinningMode: radio.value } });
          toast(`Pinning mode: ${radio.value === 'exact' ? 'exact row' : 'canonical group'}`, 'info');
          delete radio.dataset.pending;
          await Promise.all([loadSettings(), loadModels()]);
        } catch (err) {
          delete radio.dataset.pending;
          const current = state.settings?.pinningMode;
          for (const r of document.querySelectorAll('input[name="pinningMode"]')) r.checked = r.value === current;
          showError(err);
        }
      });
    }

    bindToggle(byId('auto-ping'), (on) => ({ autoPingEnabled: on }), (on) => `Auto-ping ${on ? 'on' : 'off'}`);
    bindToggle(byId('autostart'), (on) => ({ autostart: { enabled: on } }), (on) => `Start at login ${on ? 'on' : 'off'}`);
    bindToggle(byId('log-prompts'), (on) => ({ logPrompts: on }), (on) => `Prompt logging ${on ? 'on' : 'off'}`);

    // Filter rules
    const filter = byId('filter-form');
    const filterRevert = byId('filter-revert');
    filter.addEventListener('input', () => markFormDirty(filter, filterRevert));
    filter.addEventListener('change', () => markFormDirty(filter, filterRevert));
    filterRevert.addEventListener('click', () => {
      clearFormDirty(filter, filterRevert);
      if (state.settings) applySettings(state.settings, { force: true });
    });
    filter.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const msg = byId('filter-message');
      const raw = byId('min-score').value.trim();
      let minSweScore = null;
      if (raw !== '') {
        const n = Number(raw);
        if (!Number.isFinite(n) || n < 0 || n > 100) {
          msg.className = 'form-message is-error';
          setText(msg, 'Enter a percentage from 0 to 100, or leave it empty for no minimum.');
          byId('min-score').focus();
          return;
        }
        minSweScore = n / 100;
      }
      const excludedProviders = [...filter.querySelectorAll('input[name="excludedProviders"]:checked')].map((i) => i.value);
      withBusy(byId('filter-save'), async () => {
        msg.className = 'form-message';
        setText(msg, '');
        try {
          await api('/api/filter-rules', { method: 'POST', body: { minSweScore, excludedProviders } });
        } catch (err) {
          msg.className = 'form-message is-error';
          setText(msg, err.message);
          throw err;
        }
        clearFormDirty(filter, filterRevert);
        msg.className = 'form-message is-ok';
        setText(msg, 'Saved.');
        setTimeout(() => { if (msg.textContent === 'Saved.') setText(msg, ''); }, 3000);
        await Promise.all([loadSettings({ force: true }), loadModels()]);
      });
    });

    // Auto-update
    const au = byId('auto-update-form');
    const auRevert = byId('auto-update-revert');
    au.addEventListener('input', () => markFormDirty(au, auRevert));
    au.addEventListener('change', () => markFormDirty(au, auRevert));
    auRevert.addEventListener('click', () => {
      clearFormDirty(au, auRevert);
      if (state.settings) applySettings(state.settings, { force: true });
    });
    au.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const msg = byId('auto-update-message');
      const hours = Number(byId('auto-update-interval').value);
      if (!Number.isFinite(hours) || hours < 1) {
        msg.className = 'form-message is-error';
        setText(msg, 'The interval must be at least 1 hour.');
        byId('auto-update-interval').focus();
        return;
      }
      withBusy(byId('auto-update-save'), async () => {
        try {
          await api('/api/settings', {
            method: 'POST',
            body: { autoUpdate: { enabled: byId('auto-update-enabled').checked, intervalHours: hours } },
          });
        } catch (err) {
          msg.className = 'form-message is-error';
          setText(msg, err.message);
          throw err;
        }
        clearFormDirty(au, auRevert);
        msg.className = 'form-message is-ok';
        setText(msg, 'Saved.');
        setTimeout(() => { if (msg.textContent === 'Saved.') setText(msg, ''); }, 3000);
        await loadSettings({ force: true });
      });
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Configuration transfer

  async function copyText(text, btn) {
    let ok = false;
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(text);
        ok = true;
      }
    } catch (_) { /* fall back below */ }
    if (!ok) {
      const ta = h('textarea', { class: 'copy-buffer', readonly: true, 'aria-hidden': 'true', tabindex: '-1' });
      ta.value = text;
      document.body.append(ta);
      ta.select();
      try { ok = document.execCommand('copy'); } catch (_) { ok = false; }
      ta.remove();
      if (btn) btn.focus({ preventScroll: true });
    }
    if (ok) {
      if (btn) {
        const label = btn.dataset.label || btn.textContent;
        btn.dataset.label = label;
        setText(btn, 'Copied');
        btn.classList.add('is-copied');
        setTimeout(() => { setText(btn, label); btn.classList.remove('is-copied'); }, 1500);
      }
    } else {
      toast('Copy failed: select the text and copy it by hand.', 'error');
    }
  }

  function initTransfer() {
    const start = byId('export-start');
    const warning = byId('export-warning');
    const confirm = byId('export-confirm');
    const run = byId('export-run');
    const output = byId('export-output');
    const tokenArea = byId('export-token');

    const resetExport = () => {
      confirm.checked = false;
      run.disabled = true;
      show(warning, false);
      show(start, true);
    };
    start.addEventListener('click', () => {
      show(warning, true);
      show(start, false);
      confirm.focus();
    });
    confirm.addEventListener('change', () => { run.disabled = !confirm.checked; });
    byId('export-cancel').addEventListener('click', () => { resetExport(); start.focus(); });
    run.addEventListener('click', () => withBusy(run, async () => {
      if (!confirm.checked) return;
      const res = await api('/api/config/export', { method: 'POST', body: { confirm: true } });
      tokenArea.value = res.token || '';
      resetExport();
      show(output, true);
      tokenArea.focus();
      tokenArea.select();
    }));
    byId('export-copy').addEventListener('click', (ev) => copyText(tokenArea.value, ev.currentTarget));
    byId('export-clear').addEventListener('click', () => {
      tokenArea.value = '';
      show(output, false);
      start.focus();
    });

    const importArea = byId('import-token');
    const preview = byId('import-preview');
    const result = byId('import-result');
    const msg = byId('import-message');
    let previewed = null;
    const resetImport = () => {
      previewed = null;
      show(result, false);
      fill(byId('import-changes'));
    };
    importArea.addEventListener('input', () => {
      if (previewed !== null && importArea.value.trim() !== previewed) {
        resetImport();
        setText(msg, 'The token changed; preview it again.');
        msg.className = 'form-message';
      }
    });
    preview.addEventListener('click', () => withBusy(preview, async () => {
      const token = importArea.value.trim();
      msg.className = 'form-message';
      if (!token) {
        msg.className = 'form-message is-error';
        setText(msg, 'Paste a token first.');
        importArea.focus();
        return;
      }
      setText(msg, 'Checking…');
      let res;
      try {
        res = await api('/api/config/import/preview', { method: 'POST', body: { token } });
      } catch (err) {
        resetImport();
        msg.className = 'form-message is-error';
        setText(msg, err.message);
        throw err;
      }
      previewed = token;
      const changes = Array.isArray(res.changes) ? res.changes : [];
      const keys = Array.isArray(res.keys) ? res.keys : [];
      setText(msg, `${changes.length} change${changes.length === 1 ? '' : 's'}`);
      fill(byId('import-changes'), changes.length
        ? changes.map((c) => h('li', null,
          h('code', { class: 'change-path' }, c.path),
          h('span', { class: 'change-from' }, fmtValue(c.from)),
          h('span', { class: 'change-arrow', 'aria-label': 'becomes' }, '→'),
          h('span', { class: 'change-to' }, fmtValue(c.to))))
        : h('li', { class: 'muted' }, 'No settings change.'));
      setText(byId('import-keys'), keys.length
        ? `Keys that will be stored (values not shown): ${keys.join(', ')}`
        : 'The token holds no keys.');
      show(result, true);
      byId('import-confirm').focus();
    }));
    byId('import-cancel').addEventListener('click', () => { resetImport(); setText(msg, ''); importArea.focus(); });
    byId('import-confirm').addEventListener('click', (ev) => withBusy(ev.currentTarget, async () => {
      const token = importArea.value.trim();
      if (!previewed || token !== previewed) {
        msg.className = 'form-message is-error';
        setText(msg, 'Preview the token before importing it.');
        return;
      }
      try {
        await api('/api/config/import', { method: 'POST', body: { token, confirm: true } });
      } catch (err) {
        msg.className = 'form-message is-error';
        setText(msg, err.message);
        throw err;
      }
      importArea.value = '';
      resetImport();
      msg.className = 'form-message is-ok';
      setText(msg, 'Configuration imported.');
      toast('Configuration imported', 'info');
      await refreshAll({ force: true });
    }));
  }

  // ---------------------------------------------------------------------------------------------
  // Logs

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
            h('td', null, a.provider || dash),
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
        fact('Tokens', fmtInt(e.tokens))),
      renderMessages(e.messages));
    details.replaceChildren(summary, body);
  }

  function addLog(e, { prepend = true } = {}) {
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

  function markLogsSeen() {
    lg.unseen = 0;
    show(byId('logs-badge'), false);
  }

  function noteNewLog() {
    if (currentTab === 'logs') return;
    lg.unseen++;
    const badge = byId('logs-badge');
    setText(badge, lg.unseen > 99 ? '99+' : String(lg.unseen));
    show(badge, true);
  }

  async function loadLogs() {
    const body = await api('/api/logs');
    const entries = Array.isArray(body.entries) ? body.entries : [];
    // Newest first: add oldest first, each prepended, so unknown ones land in order on a reconnect.
    for (let i = entries.length - 1; i >= 0; i--) addLog(entries[i], { prepend: true });
    show(byId('logs-empty'), lg.cards.size === 0);
    setText(byId('logs-count'), `${lg.cards.size} request${lg.cards.size === 1 ? '' : 's'}`);
  }

  // ---------------------------------------------------------------------------------------------
  // Setup snippets

  function currentBaseUrl() {
    return state.status?.baseUrl || `${location.origin}/v1`;
  }

  let setupRendered = null;
  function renderSetup() {
    const base = currentBaseUrl();
    if (setupRendered === base) return;
    setupRendered = base;
    const b = JSON.stringify(base);
    setText(byId('setup-base-url'), base);
    setText(byId('setup-opencode'), `{
  "$schema": "https://opencode.ai/config.json",
  "provider": {
    "router": {
      "npm": "@ai-sdk/openai-compatible",
      "name": "modelrelay",
      "options": {
        "baseURL": ${b},
        "apiKey": "dummy-key"
      },
      "models": {
        "auto-fastest": {
          "name": "Auto Fastest"
        }
      }
    }
  },
  "model": "router/auto-fastest"
}`);
    setText(byId('setup-openclaw'), `{
  "models": {
    "providers": {
      "modelrelay": {
        "baseUrl": ${b},
        "api": "openai-completions",
        "apiKey": "no-key",
        "models": [
          { "id": "auto-fastest", "name": "Auto Fastest" }
        ]
      }
    }
  },
  "agents": {
    "defaults": {
      "model": {
        "primary": "modelrelay/auto-fastest"
      },
      "models": {
        "modelrelay/auto-fastest": {}
      }
    }
  }
}`);
    const root = JSON.stringify(base.replace(/\/v1\/?$/, ''));
    setText(byId('setup-claude'), `{
  "env": {
    "ANTHROPIC_BASE_URL": ${root},
    "ANTHROPIC_AUTH_TOKEN": "modelrelay"
  }
}`);
    const q = (s) => `'${s.replace(/'/g, "'\\''")}'`;
    setText(byId('setup-curl'), `curl ${q(`${base.replace(/\/$/, '')}/chat/completions`)} \\
  -H 'content-type: application/json' \\
  -d '{"model":"auto-fastest","messages":[{"role":"user","content":"hello"}]}'`);
  }

  function initSetup() {
    renderSetup();
    byId('panel-setup').addEventListener('click', (ev) => {
      const btn = ev.target.closest('button[data-copy-target]');
      if (!btn) return;
      const target = byId(btn.dataset.copyTarget);
      if (target) copyText(target.textContent, btn);
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Live updates: SSE over fetch (so the Authorization header can be sent), reconnecting with backoff.

  function setConn(stateName, text) {
    const el = byId('conn-status');
    el.dataset.state = stateName;
    setText(el, text);
  }

  function onServerEvent(type, data) {
    let body;
    try { body = JSON.parse(data); } catch (_) { return; }
    switch (type) {
      case 'models':
        applyModels(body);
        scheduleStatus();
        break;
      case 'log':
        addLog(body, { prepend: true });
        noteNewLog();
        break;
      case 'settings':
        applySettings(body);
        break;
      case 'providers':
        applyProviders(body);
        scheduleStatus();
        break;
      default:
        break;
    }
  }

  /** Minimal text/event-stream parser (WHATWG rules for event/data/retry fields and comments). */
  function createParser(onEvent, onRetry) {
    let buf = '';
    let type = '';
    let data = [];
    const line = (l) => {
      if (l === '') {
        if (data.length) onEvent(type || 'message', data.join('\n'));
        type = '';
        data = [];
        return;
      }
      if (l.startsWith(':')) return; // comment / keep-alive
      const i = l.indexOf(':');
      const field = i < 0 ? l : l.slice(0, i);
      let value = i < 0 ? '' : l.slice(i + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') type = value;
      else if (field === 'data') data.push(value);
      else if (field === 'retry' && /^\d+$/.test(value)) onRetry(Number(value));
    };
    return (chunk) => {
      buf += chunk;
      let start = 0;
      for (let i = 0; i < buf.length; i++) {
        const c = buf[i];
        if (c === '\n' || c === '\r') {
          if (c === '\r' && i === buf.length - 1) break; // may be half of \r\n
          line(buf.slice(start, i));
          if (c === '\r' && buf[i + 1] === '\n') i++;
          start = i + 1;
        }
      }
      buf = buf.slice(start);
    };
  }

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  async function runEvents() {
    let delay = 1000;
    let minDelay = 1000;
    let connectedOnce = false;
    for (;;) {
      const ctrl = new AbortController();
      let watchdog = null;
      const kick = () => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => ctrl.abort(), 45000); // keep-alives come every 15 s
      };
      try {
        setConn('connecting', connectedOnce ? 'Reconnecting…' : 'Connecting…');
        kick();
        const res = await fetch('/api/events', {
          headers: authHeaders({ Accept: 'text/event-stream' }),
          cache: 'no-store',
          credentials: 'same-origin',
          signal: ctrl.signal,
        });
        if (res.status === 401) {
          clearTimeout(watchdog);
          setConn('auth', 'Admin token needed');
          if (tokenDeclined) {
            await nextToken(); // don't nag: wait until an action the user starts stores a token
          } else {
            try {
              await askForToken(getToken() ? 'That token was not accepted.' : '');
            } catch (_) {
              await nextToken();
            }
          }
          if (!connectedOnce) refreshAll().catch(() => {}); // the first load failed without a token
          continue;
        }
        if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
        setConn('live', 'Live');
        delay = minDelay;
        if (connectedOnce) refreshAll().catch(() => {}); // catch up on what was missed
        connectedOnce = true;
        const reader = res.body.getReader();
        const decoder = new TextDecoder();
        const feed = createParser(onServerEvent, (ms) => { minDelay = Math.max(500, Math.min(ms, 60000)); });
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          kick();
          feed(decoder.decode(value, { stream: true }));
        }
      } catch (_) {
        // network error, abort by the watchdog, or a non-2xx answer: reconnect below
      } finally {
        clearTimeout(watchdog);
      }
      const wait = delay + Math.round(Math.random() * delay * 0.3);
      setConn('down', `Reconnecting in ${Math.round(wait / 1000)} s`);
      await sleep(wait);
      delay = Math.min(delay * 2, 30000);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Boot

  async function refreshAll({ force = false } = {}) {
    const results = await Promise.allSettled([
      loadProviders(), // first, so rows and filters get provider names
      loadModels(),
      loadSettings({ force }),
      loadStatus(),
      loadLogs(),
      loadEndpoints(),
    ]);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) showError(failed.reason);
  }

  function boot() {
    initTheme();
    initTabs();
    initRankings();
    initDrawer();
    initProviders();
    initSettings();
    initTransfer();
    initSetup();
    renderHeader();
    refreshAll().finally(() => runEvents());
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();
})();
