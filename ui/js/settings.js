// The Settings tab: pinning mode, toggles, filter rules, auto-update and hedging, applied from /api/settings.

import { byId, fill, h, isTextual, moveBefore, setField, setText, show } from './dom.js';
import { isNum } from './format.js';
import { api } from './api.js';
import { state } from './state.js';
import { showError, toast, withBusy } from './feedback.js';
import { renderHeader } from './header.js';
import { loadModels, renderPinBanner } from './rankings.js';

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

export function syncExcludedProviders() {
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

export function applySettings(s, { force = false } = {}) {
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
  const hf = byId('hedging-form');
  if (force || !formDirty(hf)) {
    clearFormDirty(hf, byId('hedging-revert'));
    const hg = s.hedging || {};
    byId('hedging-enabled').checked = Boolean(hg.enabled);
    byId('hedging-min-delay').value = isNum(hg.minDelayMs) ? String(hg.minDelayMs) : '';
    byId('hedging-max-share').value = isNum(hg.maxShare) ? String(Math.round(hg.maxShare * 1000) / 10) : '';
    byId('hedging-min-daily').value = isNum(hg.minDailyQuota) ? String(hg.minDailyQuota) : '';
  }
  renderHeader();
  renderPinBanner();
}

/** The hedging form's values as `/api/settings` takes them, or an error message. */
function hedgingFromForm() {
  const delay = Number(byId('hedging-min-delay').value);
  const share = Number(byId('hedging-max-share').value);
  const daily = Number(byId('hedging-min-daily').value);
  if (!Number.isInteger(delay) || delay < 0 || delay > 600000) return { error: 'The delay must be a whole number of milliseconds from 0 to 600000.', field: 'hedging-min-delay' };
  if (!Number.isFinite(share) || share < 0 || share > 100) return { error: 'The share must be a percentage from 0 to 100.', field: 'hedging-max-share' };
  if (!Number.isInteger(daily) || daily < 0) return { error: 'The daily quota must be a whole number of requests.', field: 'hedging-min-daily' };
  return { value: { enabled: byId('hedging-enabled').checked, minDelayMs: delay, maxShare: share / 100, minDailyQuota: daily } };
}

export async function loadSettings(opts) {
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

export function initSettings() {
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

  // Hedging
  const hf = byId('hedging-form');
  const hfRevert = byId('hedging-revert');
  hf.addEventListener('input', () => markFormDirty(hf, hfRevert));
  hf.addEventListener('change', () => markFormDirty(hf, hfRevert));
  hfRevert.addEventListener('click', () => {
    clearFormDirty(hf, hfRevert);
    if (state.settings) applySettings(state.settings, { force: true });
  });
  hf.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const msg = byId('hedging-message');
    const hedging = hedgingFromForm();
    if (hedging.error) {
      msg.className = 'form-message is-error';
      setText(msg, hedging.error);
      byId(hedging.field).focus();
      return;
    }
    withBusy(byId('hedging-save'), async () => {
      try {
        await api('/api/settings', { method: 'POST', body: { hedging: hedging.value } });
      } catch (err) {
        msg.className = 'form-message is-error';
        setText(msg, err.message);
        throw err;
      }
      clearFormDirty(hf, hfRevert);
      msg.className = 'form-message is-ok';
      setText(msg, 'Saved.');
      setTimeout(() => { if (msg.textContent === 'Saved.') setText(msg, ''); }, 3000);
      await loadSettings({ force: true });
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
