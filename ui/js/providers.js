// The Providers tab: a card per provider (enable, write-only key, base URL) and the add-endpoint form.

import { byId, fill, h, moveBefore, safeUrl, setField, setText, show, trackDirty } from './dom.js';
import { fact, fmtAgo, fmtClock, fmtDuration, fmtInt, isNum } from './format.js';
import { api } from './api.js';
import { state } from './state.js';
import { confirmTwice, showError, toast, withBusy } from './feedback.js';
import { renderHeader } from './header.js';
import { loadModels, syncProviderFilter } from './rankings.js';
import { syncExcludedProviders } from './settings.js';

const pv = { cards: new Map() }; // key -> card refs

function endpointIdFor(key) {
  if (state.endpoints.has(key)) return state.endpoints.get(key);
  const p = state.providers.find((x) => x.key === key);
  if (p && typeof p.id === 'string' && p.id) return p.id;
  return key.startsWith('openai-compatible:') ? key.slice('openai-compatible:'.length) : key;
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
    const body = { baseUrl: value };
    const current = state.providers.find((x) => x.key === key);
    const newHost = hostOf(value || current?.defaultBaseUrl || '');
    if (current?.keyInfo?.set && newHost && newHost !== hostOf(current.baseUrl || '')) {
      // A saved key is bound to the host it was entered for: moving it needs the user's word.
      body.keepKey = window.confirm(
        `Send the saved API key for ${current.name} to ${newHost}?\n\n` +
        'Only do this if you trust that server with your key. Choose Cancel to keep the key ' +
        'for the old address; you can enter a key for the new one afterwards.');
    }
    await api(`/api/providers/${enc}`, { method: 'POST', body });
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
  const withheld = typeof p.keyWithheld === 'string' ? p.keyWithheld : null;
  const errSig = JSON.stringify([err?.message, err && Math.round((err.secondsAgo || 0) / 60), discErr, withheld]);
  if (refs.errSig !== errSig) {
    refs.errSig = errSig;
    fill(refs.error,
      withheld ? [h('div', { class: 'small muted' }, 'API key not sent'), h('div', { class: 'error-text' }, withheld)] : null,
      err ? [h('div', { class: 'small muted' }, `Latest error · ${fmtAgo(err.secondsAgo)}`), h('div', { class: 'error-text' }, err.message)] : null,
      discErr ? [h('div', { class: 'small muted' }, 'Model discovery'), h('div', { class: 'error-text' }, typeof discErr === 'string' ? discErr : JSON.stringify(discErr))] : null);
  }
  show(refs.error, Boolean(err || discErr || withheld));

  const rl = p.rateLimit || {};
  const cooling = isNum(rl.coolingForSeconds) && rl.coolingForSeconds > 0 ? rl.coolingForSeconds : null;
  if (cooling) {
    const at = Math.round((Date.now() + cooling * 1000) / 1000) * 1000;
    setText(refs.rate, `Rate-limited${rl.window ? ` (${rl.window})` : ''} until ${fmtClock(at)} — ${fmtDuration(cooling)} left`);
  }
  show(refs.rate, Boolean(cooling));
}

/** `host:port` of a URL, as the router binds keys (the scheme's port when none is written). */
function hostOf(url) {
  try {
    const u = new URL(url.includes('://') ? url : `https://${url}`);
    const port = u.port || (u.protocol === 'http:' ? '80' : '443');
    return `${u.hostname.toLowerCase()}:${port}`;
  } catch {
    return '';
  }
}

/** `key` is the provider id; the key status (never a key) is `apiKey: {set, source, count, hint}`. */
function normalizeProvider(p) {
  const keyInfo = [p.apiKey, p.keyStatus].find((v) => v && typeof v === 'object') || null;
  return { ...p, keyInfo };
}

export function applyProviders(body) {
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

export async function loadProviders() {
  applyProviders(await api('/api/providers'));
  return state.providers;
}

let endpointsLoading = null;
export function loadEndpoints() {
  if (endpointsLoading) return endpointsLoading;
  endpointsLoading = api('/api/openai-compatible/endpoints').then((body) => {
    state.endpoints = new Map((body.endpoints || [])
      .filter((e) => e && e.id != null)
      .map((e) => [typeof e.key === 'string' ? e.key : `openai-compatible:${e.id}`, e.id]));
  }).finally(() => { endpointsLoading = null; });
  return endpointsLoading;
}

export function initProviders() {
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
