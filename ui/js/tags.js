// The drawer's routing-tag editor: built-in tags as chips, the group's user tags as removable
// chips, and an input to add more; saved with PUT /api/models/tags. The input is only reset when
// another row is opened, so a live update never wipes what the user is typing.

import { byId, fill, h, setText } from './dom.js';
import { api } from './api.js';
import { withBusy } from './feedback.js';
import { loadModels } from './rankings.js';

const editor = { row: null, shownFor: null };

async function saveTags(tags, busyButton) {
  const row = editor.row;
  if (!row) return;
  const message = byId('drawer-tags-message');
  message.className = 'form-message';
  await withBusy(busyButton, async () => {
    try {
      const res = await api('/api/models/tags', { method: 'PUT', body: { modelId: row.id, tags } });
      byId('drawer-tags-input').value = '';
      message.className = 'form-message is-ok';
      setText(message, res.tags.length ? `Saved for group ${res.modelKey}` : `No user tags on ${res.modelKey}`);
      await loadModels();
    } catch (err) {
      message.className = 'form-message is-error';
      setText(message, err.message);
      throw err;
    }
  });
}

/** Shows `r`'s tags; called on every drawer render. */
export function renderDrawerTags(r) {
  editor.row = r;
  if (editor.shownFor !== r.id) {
    editor.shownFor = r.id;
    byId('drawer-tags-input').value = '';
    setText(byId('drawer-tags-message'), '');
  }
  const builtIn = r.builtInTags || [];
  const user = r.userTags || [];
  fill(byId('drawer-tag-chips'),
    builtIn.map((t) => h('span', { class: 'tag-chip', title: 'Built-in tag' }, t)),
    user.map((t) => h('span', { class: 'tag-chip tag-user', dataset: { tag: t } }, t,
      h('button', { type: 'button', class: 'tag-remove', 'aria-label': `Remove tag ${t}`, dataset: { removeTag: t } }, '×'))),
    builtIn.length + user.length ? null : h('span', { class: 'muted small' }, 'No tags.'));
}

export function initDrawerTags() {
  byId('drawer-tags-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const row = editor.row;
    if (!row) return;
    const added = byId('drawer-tags-input').value.split(',').map((t) => t.trim()).filter(Boolean);
    saveTags([...(row.userTags || []), ...added], byId('drawer-tags-save')).catch(() => {});
  });
  byId('drawer-tag-chips').addEventListener('click', (ev) => {
    const btn = ev.target.closest('button[data-remove-tag]');
    const row = editor.row;
    if (!btn || !row) return;
    saveTags((row.userTags || []).filter((t) => t !== btn.dataset.removeTag), btn).catch(() => {});
  });
}
