// The Chat tab: a streamed conversation through /v1/chat/completions, to try the router without an
// agent. Each answer is labelled with the row that served it and its TTFT, read from the router's
// x-modelrelay-* response headers. The transcript lives in sessionStorage (this tab only).
//
// Model text is rendered as Markdown by the vendored markdown-it (ui/js/markdown-it.min.js, see
// ui/js/markdown-it.LICENSE.txt) with `html: false`: any HTML the model writes is escaped, images are
// off, and links open in a new tab without a referrer. Everything else is inserted as text.

import './markdown-it.min.js';
import { byId, fill, h, setText, show } from './dom.js';
import { fmtMs } from './format.js';
import { state } from './state.js';
import { createParser } from './live.js';

const STORE_KEY = 'modelrelay-chat-v1';
const KEY_STORE = 'modelrelay-router-key';

const md = globalThis.markdownit({ html: false, linkify: false, typographer: false, breaks: true });
md.disable('image');
const renderToken = (tokens, idx, options, env, self) => self.renderToken(tokens, idx, options);
const linkOpen = md.renderer.rules.link_open || renderToken;
md.renderer.rules.link_open = (tokens, idx, options, env, self) => {
  tokens[idx].attrSet('target', '_blank');
  tokens[idx].attrSet('rel', 'noopener noreferrer');
  return linkOpen(tokens, idx, options, env, self);
};

const chat = {
  messages: [], // { role, content, toolCalls?, meta?, error?, stopped?, pending? }
  model: 'auto-fastest',
  controller: null,
  optionsSig: '',
};

function load() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(STORE_KEY) || 'null');
    if (saved && Array.isArray(saved.messages)) {
      chat.messages = saved.messages.filter((m) => m && (m.role === 'user' || m.role === 'assistant'))
        .map((m) => ({ ...m, pending: false }));
      if (typeof saved.model === 'string') chat.model = saved.model;
    }
  } catch (_) { /* a broken transcript starts over */ }
}

function save() {
  try {
    sessionStorage.setItem(STORE_KEY, JSON.stringify({ model: chat.model, messages: chat.messages }));
  } catch (_) { /* storage full or disabled: the chat still works */ }
}

function routerKey() {
  try { return sessionStorage.getItem(KEY_STORE) || ''; } catch (_) { return ''; }
}

/** Markdown → sanitised HTML (markdown-it escapes every HTML tag; see the header). */
function markdown(el, text) {
  el.innerHTML = md.render(text || '');
}

function metaLine(m) {
  const meta = m.meta || {};
  const parts = [];
  if (meta.provider) parts.push(h('span', { class: 'chat-served', title: 'Served by (x-modelrelay-provider / x-modelrelay-model)' },
    h('strong', { class: 'chat-provider' }, meta.provider), ' · ', h('span', { class: 'chat-upstream mono' }, meta.model || '')));
  if (meta.ttftMs != null) parts.push(h('span', { class: 'chat-ttft' }, `TTFT ${fmtMs(meta.ttftMs)}`));
  if (meta.totalMs != null) parts.push(h('span', null, `total ${fmtMs(meta.totalMs)}`));
  if (meta.attempts > 1) parts.push(h('span', null, `${meta.attempts} attempts`));
  if (m.stopped) parts.push(h('span', { class: 'chat-stopped' }, 'stopped'));
  if (m.pending) parts.push(h('span', { class: 'chat-pending' }, 'streaming…'));
  return parts.length ? h('div', { class: 'chat-meta small muted' }, parts.map((p, i) => (i ? [' · ', p] : p))) : null;
}

function messageNode(m, index) {
  const body = h('div', { class: 'chat-body' });
  if (m.role === 'assistant') markdown(body, m.content);
  else body.textContent = m.content;
  const tools = (m.toolCalls || []).map((call) => h('pre', { class: 'chat-tool mono' }, JSON.stringify(call, null, 2)));
  return h('li', { class: `chat-msg chat-${m.role}`, dataset: { index } },
    h('div', { class: 'chat-role small' }, m.role === 'user' ? 'You' : 'Assistant'),
    body,
    tools.length ? h('div', { class: 'chat-tools' }, h('div', { class: 'small muted' }, 'Tool calls'), tools) : null,
    m.error ? h('div', { class: 'error-box chat-error' }, m.error) : null,
    m.role === 'assistant' ? metaLine(m) : null);
}

function renderLog() {
  const log = byId('chat-log');
  fill(log, chat.messages.map(messageNode));
  log.scrollTop = log.scrollHeight;
}

let frame = 0;
/** Re-renders the message being streamed, at most once a frame. */
function renderLast() {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    const log = byId('chat-log');
    const index = chat.messages.length - 1;
    const old = log.lastElementChild;
    const node = messageNode(chat.messages[index], index);
    if (old && old.dataset.index === String(index)) old.replaceWith(node);
    else log.append(node);
    log.scrollTop = log.scrollHeight;
  });
}

function setBusy(busy) {
  show(byId('chat-send'), !busy);
  show(byId('chat-stop'), busy);
  byId('chat-model').disabled = busy;
}

/** The model picker: auto-fastest, every group, every `tag:`, every exact row. */
export function renderChatModels() {
  const groups = new Map();
  const tags = new Set();
  for (const r of state.models) {
    if (r.group && !groups.has(r.group)) groups.set(r.group, r.name || r.group);
    for (const t of r.tags || []) tags.add(t);
  }
  const rows = state.models.map((r) => r.id);
  const sig = JSON.stringify([[...groups.keys()], [...tags].sort(), rows]);
  if (sig === chat.optionsSig) return;
  chat.optionsSig = sig;
  const select = byId('chat-model');
  const option = (value, label) => h('option', { value }, label);
  fill(select,
    option('auto-fastest', 'auto-fastest (fastest available)'),
    option('auto-best', 'auto-best (best coding score among the fast)'),
    h('optgroup', { label: 'Tags' }, [...tags].sort().map((t) => option(`tag:${t}`, `tag:${t}`))),
    h('optgroup', { label: 'Groups' }, [...groups].sort((a, b) => a[0].localeCompare(b[0])).map(([slug, name]) => option(slug, `${name} (${slug})`))),
    h('optgroup', { label: 'Exact rows' }, rows.slice().sort().map((id) => option(id, id))));
  if (![...select.options].some((o) => o.value === chat.model)) select.append(option(chat.model, chat.model));
  select.value = chat.model;
}

function apiMessages() {
  return chat.messages
    .filter((m) => !m.pending && !m.error && (m.content || m.role === 'user'))
    .map((m) => ({ role: m.role, content: m.content || '' }));
}

function applyDelta(answer, delta) {
  if (typeof delta.content === 'string') answer.content += delta.content;
  for (const call of delta.tool_calls || []) {
    const i = call.index ?? 0;
    answer.toolCalls = answer.toolCalls || [];
    const slot = answer.toolCalls[i] || (answer.toolCalls[i] = { id: call.id || null, type: call.type || 'function', function: { name: '', arguments: '' } });
    if (call.id) slot.id = call.id;
    if (call.function?.name) slot.function.name += call.function.name;
    if (call.function?.arguments) slot.function.arguments += call.function.arguments;
  }
}

function errorText(body, status) {
  try {
    const e = JSON.parse(body).error;
    if (e && e.message) return `${status ? `HTTP ${status}: ` : ''}${e.message}`;
  } catch (_) { /* not JSON */ }
  return status ? `HTTP ${status}` : String(body || 'the answer could not be read');
}

async function send(text) {
  chat.messages.push({ role: 'user', content: text });
  const messages = apiMessages();
  const answer = { role: 'assistant', content: '', pending: true, meta: {} };
  chat.messages.push(answer);
  save();
  renderLog();
  setBusy(true);
  setText(byId('chat-status'), '');
  const controller = new AbortController();
  chat.controller = controller;
  const started = performance.now();
  try {
    const headers = { 'Content-Type': 'application/json', Accept: 'text/event-stream' };
    const key = routerKey();
    if (key) headers.Authorization = `Bearer ${key}`;
    const res = await fetch('/v1/chat/completions', {
      method: 'POST',
      headers,
      credentials: 'same-origin',
      cache: 'no-store',
      signal: controller.signal,
      body: JSON.stringify({ model: chat.model, stream: true, messages }),
    });
    answer.meta = {
      provider: res.headers.get('x-modelrelay-provider'),
      model: res.headers.get('x-modelrelay-model'),
      ttftMs: Number(res.headers.get('x-modelrelay-ttft-ms')) || null,
      attempts: Number(res.headers.get('x-modelrelay-attempts')) || null,
    };
    if (!res.ok) {
      if (res.status === 401) show(byId('chat-key-box'), true);
      throw new Error(errorText(await res.text(), res.status));
    }
    const type = res.headers.get('content-type') || '';
    if (!type.startsWith('text/event-stream')) {
      const body = JSON.parse(await res.text());
      const message = body.choices?.[0]?.message || {};
      answer.content = message.content || '';
      if (message.tool_calls) answer.toolCalls = message.tool_calls;
    } else {
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let done = false;
      const feed = createParser((_, data) => {
        if (data === '[DONE]') { done = true; return; }
        let event;
        try { event = JSON.parse(data); } catch (_) { return; }
        if (event.error) { answer.error = event.error.message || 'the stream failed'; return; }
        const delta = event.choices?.[0]?.delta;
        if (delta) { applyDelta(answer, delta); renderLast(); }
      }, () => {});
      while (!done) {
        const { value, done: finished } = await reader.read();
        if (finished) break;
        feed(decoder.decode(value, { stream: true }));
      }
    }
  } catch (err) {
    if (err.name === 'AbortError') answer.stopped = true;
    else answer.error = err.message || String(err);
  } finally {
    answer.pending = false;
    answer.meta.totalMs = Math.round(performance.now() - started);
    chat.controller = null;
    setBusy(false);
    save();
    renderLog();
    setText(byId('chat-status'), answer.stopped ? 'Stopped.' : answer.error ? 'Failed.' : '');
  }
}

export function initChat() {
  load();
  renderChatModels();
  renderLog();
  byId('chat-model').addEventListener('change', (ev) => { chat.model = ev.target.value; save(); });
  const input = byId('chat-input');
  const submit = () => {
    const text = input.value.trim();
    if (!text || chat.controller) return;
    input.value = '';
    send(text);
  };
  byId('chat-form').addEventListener('submit', (ev) => { ev.preventDefault(); submit(); });
  input.addEventListener('keydown', (ev) => {
    // Enter sends; Shift+Enter (and Enter while an IME is composing) keeps the newline.
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      submit();
    }
  });
  byId('chat-stop').addEventListener('click', () => chat.controller?.abort());
  byId('chat-clear').addEventListener('click', () => {
    chat.controller?.abort();
    chat.messages = [];
    save();
    renderLog();
  });
  byId('chat-key').addEventListener('change', (ev) => {
    try { sessionStorage.setItem(KEY_STORE, ev.target.value.trim()); } catch (_) { /* tab-only */ }
  });
}
