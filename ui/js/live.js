// Keeping the page current: the full load, then /api/events applied as it arrives.
// SSE is read over fetch (so the Authorization header can be sent) and reconnects with backoff.

import { byId, setText } from './dom.js';
import { askForToken, authHeaders, getToken, nextToken, tokenDeclined } from './api.js';
import { showError } from './feedback.js';
import { loadStatus, scheduleStatus } from './header.js';
import { applyModels, loadModels } from './rankings.js';
import { applyProviders, loadEndpoints, loadProviders } from './providers.js';
import { applySettings, loadSettings } from './settings.js';
import { addLog, loadLogs, noteNewLog } from './logs.js';

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
export function createParser(onEvent, onRetry) {
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

export async function runEvents() {
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

export async function refreshAll({ force = false } = {}) {
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
