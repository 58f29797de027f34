// Theme: follows prefers-color-scheme unless the user picked one (stored in localStorage).

import { byId, setText } from './dom.js';

const THEME_KEY = 'modelrelay-theme';

const THEMES = ['system', 'light', 'dark'];
const THEME_NAMES = { system: 'System', light: 'Light', dark: 'Dark' };

function storedTheme() {
  try {
    const t = localStorage.getItem(THEME_KEY);
    return t === 'light' || t === 'dark' ? t : 'system';
  } catch (_) {
    return 'system';
  }
}

function applyTheme(theme) {
  const root = document.documentElement;
  if (theme === 'system') delete root.dataset.theme; else root.dataset.theme = theme;
  const next = THEMES[(THEMES.indexOf(theme) + 1) % THEMES.length];
  setText(byId('theme-label'), THEME_NAMES[theme]);
  const btn = byId('theme-toggle');
  btn.setAttribute('aria-label', `Theme: ${theme === 'system' ? 'follows the system' : THEME_NAMES[theme]}. Switch to ${THEME_NAMES[next].toLowerCase()}.`);
  btn.title = `Theme: ${THEME_NAMES[theme]} (click for ${THEME_NAMES[next].toLowerCase()})`;
}

export function initTheme() {
  applyTheme(storedTheme());
  byId('theme-toggle').addEventListener('click', () => {
    const next = THEMES[(THEMES.indexOf(storedTheme()) + 1) % THEMES.length];
    try {
      if (next === 'system') localStorage.removeItem(THEME_KEY); else localStorage.setItem(THEME_KEY, next);
    } catch (_) { /* storage unavailable: apply for this page only */ }
    applyTheme(next);
  });
}
