// Tabs (WAI-ARIA tabs pattern), the selected one kept in the URL hash.

import { $, byId, show } from './dom.js';

const TABS = ['rankings', 'chat', 'providers', 'accounts', 'settings', 'logs', 'setup'];

export let currentTab = 'rankings';
let onSelect = () => {};

export function selectTab(name, { focus = false } = {}) {
  if (!TABS.includes(name)) return;
  currentTab = name;
  for (const t of TABS) {
    const tab = byId(`tab-${t}`);
    const on = t === name;
    tab.setAttribute('aria-selected', String(on));
    tab.tabIndex = on ? 0 : -1;
    show(byId(`panel-${t}`), on);
  }
  if (focus) byId(`tab-${name}`).focus();
  if (location.hash.slice(1) !== name) history.replaceState(null, '', `#${name}`);
  onSelect(name);
}

/** `onSelect(name)` runs after each selection, the first one included. */
export function initTabs(hooks = {}) {
  if (hooks.onSelect) onSelect = hooks.onSelect;
  const list = $('.tabs');
  list.addEventListener('click', (ev) => {
    const tab = ev.target.closest('[role="tab"]');
    if (tab) selectTab(tab.dataset.tab);
  });
  list.addEventListener('keydown', (ev) => {
    const i = TABS.indexOf(currentTab);
    let next = null;
    if (ev.key === 'ArrowRight') next = TABS[(i + 1) % TABS.length];
    else if (ev.key === 'ArrowLeft') next = TABS[(i - 1 + TABS.length) % TABS.length];
    else if (ev.key === 'Home') next = TABS[0];
    else if (ev.key === 'End') next = TABS[TABS.length - 1];
    if (next) {
      ev.preventDefault();
      selectTab(next, { focus: true });
    }
  });
  window.addEventListener('hashchange', () => {
    const name = location.hash.slice(1);
    if (TABS.includes(name)) selectTab(name);
  });
  const initial = location.hash.slice(1);
  selectTab(TABS.includes(initial) ? initial : 'rankings');
}
