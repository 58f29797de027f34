// Admin API access: the fetch helper (JSON bodies, admin token header) and the token prompt on 401.

import { byId, setText, show } from './dom.js';

const TOKEN_KEY = 'modelrelay-admin-token';

class ApiError extends Error {
  constructor(message, status, code) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code || null;
  }
}

export function getToken() {
  try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch (_) { return ''; }
}

export function authHeaders(extra) {
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

export async function api(path, options = {}) {
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
export let tokenDeclined = false; // the user cancelled the prompt: background work waits for a token quietly

export function askForToken(reason) {
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
export const nextToken = () => new Promise((resolve) => tokenWaiters.push(resolve));
