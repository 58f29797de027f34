// Configuration transfer (Settings tab): export a token after a warning, preview and import one.

import { byId, fill, h, setText, show } from './dom.js';
import { fmtValue } from './format.js';
import { api } from './api.js';
import { copyText, toast, withBusy } from './feedback.js';
import { refreshAll } from './live.js';

export function initTransfer() {
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
