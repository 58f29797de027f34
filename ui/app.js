// Entry of the admin page: loads the feature modules in js/, wires the tabs and starts the page.
//
// The page renders what the admin API (/api, see docs/API.md) returns and holds no routing rules of
// its own. Live data arrives over /api/events (SSE, read with fetch so an Authorization header can be
// sent) and is applied in place: rows and cards are keyed, inputs the user is editing are never
// overwritten, focus is never moved by an update. Everything that came from the server is inserted
// as text (textContent / createElement), never as HTML. No build step: the browser loads these
// modules as they are, under the page's `script-src 'self'` policy.

import { initTheme } from './js/theme.js';
import { initTabs } from './js/tabs.js';
import { renderHeader } from './js/header.js';
import { initRankings } from './js/rankings.js';
import { initDrawer, openDrawer, renderDrawer } from './js/drawer.js';
import { initProviders } from './js/providers.js';
import { initSettings } from './js/settings.js';
import { initTransfer } from './js/transfer.js';
import { markLogsSeen } from './js/logs.js';
import { initSetup } from './js/setup.js';
import { refreshAll, runEvents } from './js/live.js';
import { initChat, renderChatModels } from './js/chat.js';
import { watchAccounts } from './js/accounts.js';
import { initDrawerTags } from './js/tags.js';
import { initOnboarding } from './js/onboarding.js';

function boot() {
  initTheme();
  initTabs({
    onSelect: (name) => {
      if (name === 'logs') markLogsSeen();
      watchAccounts(name === 'accounts');
    },
  });
  initRankings({ openRow: openDrawer, rowsChanged: () => { renderDrawer(); renderChatModels(); } });
  initDrawer();
  initDrawerTags();
  initChat();
  initProviders();
  initSettings();
  initTransfer();
  initSetup();
  renderHeader();
  refreshAll().finally(() => {
    initOnboarding();
    runEvents();
  });
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
else boot();
