// What a click shows back: toasts, busy and queued buttons, confirm-by-second-click, copying.

import { $, byId, h, setText, show } from './dom.js';

const toastBox = byId('toast');

export function toast(message, kind = 'error', timeoutMs) {
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

export function showError(err) {
  if (!err || err.name === 'AbortError') return;
  toast(err.message || String(err), 'error');
}

const queues = new WeakMap();

/**
 * For toggles (pin, ban): a click while the previous one is still in flight runs after it, with
 * the intent read at click time, instead of being dropped.
 */
export function queued(btn, fn) {
  const prev = queues.get(btn) || Promise.resolve();
  const next = prev.then(() => withBusy(btn, fn, { queue: true }));
  queues.set(btn, next);
  return next;
}

/** Runs an action once at a time per button, reporting errors; never disables (keeps focus). */
export async function withBusy(btn, fn, { queue = false } = {}) {
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

/** A button that must be clicked twice (within 4 s) — used instead of confirm() for deletions. */
export function confirmTwice(btn, label, confirmLabel, action) {
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

export async function copyText(text, btn) {
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
