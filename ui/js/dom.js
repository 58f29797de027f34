// Element helpers: builds and updates the DOM with server data inserted as text, never as HTML.

export const $ = (sel, root = document) => root.querySelector(sel);
export const byId = (id) => document.getElementById(id);
const SVG_NS = 'http://www.w3.org/2000/svg';

/** createElement with props; strings become text nodes, so server data is never parsed as HTML. */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  setProps(el, props);
  appendAll(el, children);
  return el;
}

export function svg(tag, attrs, ...children) {
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

export function fill(el, ...children) {
  el.replaceChildren();
  appendAll(el, children);
  return el;
}

export function setText(el, text) {
  const t = text == null ? '' : String(text);
  if (el.textContent !== t) el.textContent = t;
}

export function show(el, visible) {
  if (el.hidden === !visible) return;
  el.hidden = !visible;
}

/** Moves a node without dropping focus where the browser supports it. */
export function moveBefore(parent, node, ref) {
  if (typeof parent.moveBefore === 'function' && node.isConnected && parent.isConnected) {
    try { parent.moveBefore(node, ref); return; } catch (_) { /* fall back */ }
  }
  parent.insertBefore(node, ref);
}

/** Only http(s) links from the server become hrefs. */
export function safeUrl(url) {
  if (typeof url !== 'string' || url === '') return null;
  try {
    const u = new URL(url, location.href);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
  } catch (_) {
    return null;
  }
}

export const isTextual = (el) =>
  el instanceof HTMLTextAreaElement || el instanceof HTMLSelectElement ||
  (el instanceof HTMLInputElement && !['checkbox', 'radio', 'button', 'submit', 'reset'].includes(el.type));

/** True while the user is typing in (or has unsaved edits in) this field. */
export function isEditing(el) {
  if (!el) return false;
  if (el.dataset.dirty === '1' || el.dataset.pending === '1') return true;
  return el === document.activeElement && isTextual(el);
}

/** Applies a server value to an input unless the user is editing it. */
export function setField(el, value, { force = false } = {}) {
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
export function trackDirty(el, onChange) {
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
