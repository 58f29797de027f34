// The first-run setup flow on the Setup tab: the steps of `modelrelay onboard` for people who
// never open a terminal — keys (checked, stored in the key store), agent configs (merged with a
// backup), start on login. GET /api/setup says whether it opens by itself; every step can be
// skipped, and the flow reopened from the Setup tab.

import { byId, fill, h, setText, show } from './dom.js';
import { api } from './api.js';
import { state } from './state.js';
import { withBusy } from './feedback.js';
import { selectTab } from './tabs.js';

const STEPS = ['keys', 'agents', 'login'];

function showStep(name) {
  for (const step of STEPS) show(byId(`setup-step-${step}`), step === name || STEPS.indexOf(step) < STEPS.indexOf(name));
}

function result(list, ok, text) {
  list.append(h('li', { class: ok ? 'is-ok' : 'is-error' }, text));
}

function fillProviders() {
  const select = byId('setup-provider');
  const current = select.value;
  const providers = state.providers;
  fill(select, providers.map((p) => h('option', { value: p.key },
    `${p.name}${p.apiKey?.set ? ' (key set)' : p.auth === 'optional' ? ' (key optional)' : ''}`)));
  if (providers.some((p) => p.key === current)) select.value = current;
  updateSignup();
}

function updateSignup() {
  const p = state.providers.find((x) => x.key === byId('setup-provider').value);
  const link = byId('setup-signup');
  const url = p?.signupUrl || '';
  if (/^https:\/\//.test(url)) { link.href = url; show(link, true); } else show(link, false);
}

function renderAgents(setup) {
  const box = byId('setup-agents');
  if (!setup.agents.length) {
    fill(box, h('p', { class: 'muted' }, 'The home directory is unknown, so agent configs cannot be found.'));
    return;
  }
  fill(box, setup.agents.map((a) => h('div', { class: 'setup-agent', dataset: { agent: a.id } },
    a.installed
      ? h('button', { type: 'button', class: 'btn btn-small', dataset: { configureAgent: a.id } },
        a.configured ? `${a.name}: configured — write again` : `Configure ${a.name}`)
      : h('span', { class: 'muted' }, `${a.name}: not found`),
    ' ',
    h('span', { class: 'mono small muted' }, a.path),
    h('div', { class: 'setup-agent-result small', role: 'status' }))));
}

async function load() {
  const setup = await api('/api/setup');
  setText(byId('setup-key-store'), `${setup.keyStore} key store`);
  byId('setup-autostart').checked = Boolean(setup.autostart);
  renderAgents(setup);
  fillProviders();
  return setup;
}

function open() {
  show(byId('setup-flow'), true);
  show(byId('setup-reopen'), false);
  showStep('keys');
  load().catch(() => {});
}

function close() {
  show(byId('setup-flow'), false);
  show(byId('setup-reopen'), true);
}

async function finish(completed) {
  await api('/api/setup/done', { method: 'POST', body: { completed } });
  close();
}

export async function initOnboarding() {
  byId('setup-provider').addEventListener('change', updateSignup);
  byId('setup-key-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const provider = byId('setup-provider').value;
    const input = byId('setup-key');
    const key = input.value.trim();
    if (!provider || !key) return;
    const list = byId('setup-key-results');
    withBusy(byId('setup-key-save'), async () => {
      try {
        const res = await api('/api/setup/keys', { method: 'POST', body: { provider, apiKey: key } });
        input.value = '';
        result(list, true, res.check === 'valid'
          ? `${provider}: key works and is stored (${res.apiKey?.hint || ''})`
          : `${provider}: key stored, not verified (${res.reason || 'no answer'})`);
      } catch (err) {
        result(list, false, err.message);
      }
    });
  });
  byId('setup-agents').addEventListener('click', (ev) => {
    const btn = ev.target.closest('button[data-configure-agent]');
    if (!btn) return;
    const out = btn.parentElement.querySelector('.setup-agent-result');
    withBusy(btn, async () => {
      try {
        const res = await api(`/api/setup/agents/${encodeURIComponent(btn.dataset.configureAgent)}`, { method: 'POST' });
        out.className = 'setup-agent-result small is-ok';
        setText(out, res.backup ? `Written: ${res.path} (backup: ${res.backup})` : `Written: ${res.path}`);
      } catch (err) {
        out.className = 'setup-agent-result small is-error';
        setText(out, err.message);
      }
    });
  });
  byId('panel-setup').addEventListener('click', (ev) => {
    const next = ev.target.closest('button[data-setup-next]');
    if (next) showStep(next.dataset.setupNext);
  });
  byId('setup-finish').addEventListener('click', (ev) => {
    const btn = ev.currentTarget;
    withBusy(btn, async () => {
      await api('/api/settings', { method: 'POST', body: { autostart: { enabled: byId('setup-autostart').checked } } });
      await finish(true);
    });
  });
  byId('setup-skip-all').addEventListener('click', (ev) => withBusy(ev.currentTarget, () => finish(true)));
  byId('setup-reopen').addEventListener('click', open);
  close();
  try {
    const setup = await api('/api/setup');
    if (setup.show) {
      selectTab('setup');
      open();
    }
  } catch (_) { /* the rest of the page reports connection problems */ }
}
