// The Setup tab: client config snippets built from the router's base URL, with copy buttons.

import { byId, setText } from './dom.js';
import { state } from './state.js';
import { copyText } from './feedback.js';

function currentBaseUrl() {
  return state.status?.baseUrl || `${location.origin}/v1`;
}

let setupRendered = null;
export function renderSetup() {
  const base = currentBaseUrl();
  if (setupRendered === base) return;
  setupRendered = base;
  const b = JSON.stringify(base);
  setText(byId('setup-base-url'), base);
  setText(byId('setup-opencode'), `{
  "$schema": "https://opencode.ai/config.json",
  "provider": {
    "router": {
      "npm": "@ai-sdk/openai-compatible",
      "name": "modelrelay",
      "options": {
        "baseURL": ${b},
        "apiKey": "dummy-key"
      },
      "models": {
        "auto-fastest": {
          "name": "Auto Fastest"
        }
      }
    }
  },
  "model": "router/auto-fastest"
}`);
  setText(byId('setup-openclaw'), `{
  "models": {
    "providers": {
      "modelrelay": {
        "baseUrl": ${b},
        "api": "openai-completions",
        "apiKey": "no-key",
        "models": [
          { "id": "auto-fastest", "name": "Auto Fastest" }
        ]
      }
    }
  },
  "agents": {
    "defaults": {
      "model": {
        "primary": "modelrelay/auto-fastest"
      },
      "models": {
        "modelrelay/auto-fastest": {}
      }
    }
  }
}`);
  const root = JSON.stringify(base.replace(/\/v1\/?$/, ''));
  setText(byId('setup-claude'), `{
  "env": {
    "ANTHROPIC_BASE_URL": ${root},
    "ANTHROPIC_AUTH_TOKEN": "modelrelay"
  }
}`);
  const q = (s) => `'${s.replace(/'/g, "'\\''")}'`;
  setText(byId('setup-curl'), `curl ${q(`${base.replace(/\/$/, '')}/chat/completions`)} \\
  -H 'content-type: application/json' \\
  -d '{"model":"auto-fastest","messages":[{"role":"user","content":"hello"}]}'`);
}

export function initSetup() {
  renderSetup();
  byId('panel-setup').addEventListener('click', (ev) => {
    const btn = ev.target.closest('button[data-copy-target]');
    if (!btn) return;
    const target = byId(btn.dataset.copyTarget);
    if (target) copyText(target.textContent, btn);
  });
}
