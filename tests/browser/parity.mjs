// Drives the Chat, Accounts and drawer-tag features of the page (ui/) in headless Chromium against a
// running engine, for tests/ui_parity_browser.rs, which starts the engine with four fake
// OpenAI-compatible endpoints:
//   `stream` serves `stream-coder`, a slow streamed answer (words 50 ms apart);
//   `endless` serves `endless-coder`, a stream that would run for minutes (to be stopped);
//   `tagged` serves `tagged-coder`, the row whose tags are edited in the drawer;
//   `tool` serves `tool-coder`, a streamed tool call (`read_file` on `a.rs`);
//   `pool` serves `pool-coder` with two keys; its first answer is a 429.
//
//   node tests/browser/parity.mjs <router-base-url> <screenshot-dir> [setup]
//
// With `setup`, it walks the first-run setup flow instead, against an engine with no key yet, the
// built-in `groq` pointed at a fake that accepts only `sk-setup-good-key-0001`, and a HOME holding
// an OpenCode config and a hand-broken OpenClaw one.
//
// Prints a JSON summary on stdout; exits 1 with `{"error": ...}` in it when a step fails.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { check, openPage } from './chromium.mjs';

const [base, shotDir, scenario = 'chat'] = process.argv.slice(2);
if (!base || !shotDir) {
  console.error('usage: node parity.mjs <router-base-url> <screenshot-dir>');
  process.exit(2);
}

const STREAM = { provider: 'openai-compatible:stream', row: 'openai-compatible:stream/stream-coder' };
const ENDLESS = { provider: 'openai-compatible:endless', row: 'openai-compatible:endless/endless-coder' };
const TAGGED = { provider: 'openai-compatible:tagged', row: 'openai-compatible:tagged/tagged-coder' };
const TOOL = { provider: 'openai-compatible:tool', row: 'openai-compatible:tool/tool-coder' };
const POOL = { provider: 'openai-compatible:pool', row: 'openai-compatible:pool/pool-coder' };
const WAIT_MS = 15000;
const OVERALL_MS = 120000;

const summary = { steps: [], screenshots: [], consoleErrors: [] };
const log = (...args) => console.error('[parity.mjs]', ...args);


async function chatFromNode(model) {
  const res = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, stream: false, messages: [{ role: 'user', content: 'hello' }] }),
  });
  await res.text();
  return { model, status: res.status, provider: res.headers.get('x-modelrelay-provider') };
}

async function apiGet(path) {
  const res = await fetch(`${base}${path}`);
  check(res.ok, `GET ${path} failed`, res.status);
  return res.json();
}

async function waitFor(what, fn, timeoutMs = WAIT_MS) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    check(Date.now() < until, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const lastAnswer = '#chat-log .chat-assistant:last-child';

async function main() {
  mkdirSync(shotDir, { recursive: true });
  const { page, close } = await openPage('parity', summary, WAIT_MS);
  const shoot = async (name) => {
    const path = join(shotDir, `ui-${name}.png`);
    await page.screenshot({ path, fullPage: true });
    summary.screenshots.push(path);
  };
  const step = async (name, fn) => {
    log('step', name);
    const result = await fn();
    summary.steps.push({ name, ...result });
  };
  const pick = async (model) => {
    await page.waitForSelector(`#chat-model option[value="${model}"]`, { state: 'attached' });
    await page.selectOption('#chat-model', model);
  };

  try {
    if (scenario === 'setup') {
      await setupSteps(page, step, shoot);
    } else {
      await chatSteps(page, step, shoot, pick);
    }
    summary.ok = true;
  } catch (err) {
    summary.ok = false;
    summary.error = String(err && err.stack || err);
    try { await shoot(`failure-${scenario}`); } catch (_) { /* best effort */ }
  } finally {
    await close();
  }
}

async function setupSteps(page, step, shoot) {
  const KEYED = 'groq';
  await step('setup-opens', async () => {
    const response = await page.goto(`${base}/`, { waitUntil: 'load' });
    check(response && response.status() === 200, 'GET / did not answer 200', response && response.status());
    await page.waitForSelector('#setup-flow:not([hidden])');
    const selected = await page.getAttribute('#tab-setup', 'aria-selected');
    return { selected };
  });
  await step('setup-keys', async () => {
    await page.waitForSelector(`#setup-provider option[value="${KEYED}"]`, { state: 'attached' });
    await page.selectOption('#setup-provider', KEYED);
    await page.fill('#setup-key', 'sk-setup-wrong-key-0099');
    await page.click('#setup-key-save');
    const refused = (await (await page.waitForSelector('#setup-key-results .is-error')).textContent()).trim();
    // Chromium logs the refusal's 400 as a console error: expected here, and only here.
    const expected = summary.consoleErrors.filter((e) => String(e.location?.url || '').endsWith('/api/setup/keys'));
    summary.consoleErrors = summary.consoleErrors.filter((e) => !expected.includes(e));
    await page.fill('#setup-key', 'sk-setup-good-key-0001');
    await page.click('#setup-key-save');
    const stored = (await (await page.waitForSelector('#setup-key-results .is-ok')).textContent()).trim();
    const field = await page.inputValue('#setup-key');
    return { refused, refusalErrors: expected.length, stored, field };
  });
  await step('setup-agents', async () => {
    await page.click('#setup-step-keys button[data-setup-next]');
    await page.waitForSelector('#setup-step-agents:not([hidden])');
    await page.click('button[data-configure-agent="opencode"]');
    const opencode = (await (await page.waitForSelector('.setup-agent[data-agent="opencode"] .setup-agent-result.is-ok')).textContent()).trim();
    await page.click('button[data-configure-agent="openclaw"]');
    const openclaw = (await (await page.waitForSelector('.setup-agent[data-agent="openclaw"] .setup-agent-result.is-error')).textContent()).trim();
    const claude = (await page.textContent('.setup-agent[data-agent="claude-code"]')).trim();
    // The 409 refusing the broken file is logged by Chromium: expected here, and only here.
    const expected = summary.consoleErrors.filter((e) => String(e.location?.url || '').endsWith('/api/setup/agents/openclaw'));
    summary.consoleErrors = summary.consoleErrors.filter((e) => !expected.includes(e));
    await shoot('setup');
    return { opencode, openclaw, refusalErrors: expected.length, claude };
  });
  await step('setup-finish', async () => {
    await page.click('#setup-step-agents button[data-setup-next]');
    await page.waitForSelector('#setup-step-login:not([hidden])');
    await page.check('#setup-autostart');
    await page.click('#setup-finish');
    await page.waitForSelector('#setup-flow', { state: 'hidden' });
    const reopen = await page.isVisible('#setup-reopen');
    await page.click('#setup-reopen');
    await page.waitForSelector('#setup-flow:not([hidden])');
    const reopened = await page.isVisible('#setup-step-keys');
    return { reopen, reopened };
  });
}

async function chatSteps(page, step, shoot, pick) {
  {
    await step('chat-stream', async () => {
      const response = await page.goto(`${base}/#chat`, { waitUntil: 'load' });
      check(response && response.status() === 200, 'GET / did not answer 200', response && response.status());
      await page.waitForSelector('#conn-status[data-state="live"]');
      await pick(STREAM.row);
      // Shift+Enter breaks the line and sends nothing.
      await page.click('#chat-input');
      await page.keyboard.type('first line');
      await page.keyboard.press('Shift+Enter');
      await page.keyboard.type('second line');
      const draft = await page.inputValue('#chat-input');
      check(draft === 'first line\nsecond line', 'Shift+Enter did not break the line', draft);
      check((await page.$$('#chat-log .chat-msg')).length === 0, 'Shift+Enter sent the message');
      await page.keyboard.press('Enter');
      // Tokens arrive while the answer is still streaming…
      await page.waitForSelector(`${lastAnswer} .chat-pending`);
      const partial = await page.waitForFunction((sel) => {
        const el = document.querySelector(`${sel} .chat-body`);
        const pending = document.querySelector(`${sel} .chat-pending`);
        return pending && el && el.textContent.trim().length > 0 ? el.textContent.trim() : null;
      }, lastAnswer).then((h) => h.jsonValue());
      // …and the finished answer is longer, labelled with the row that served it.
      await page.waitForSelector(`${lastAnswer} .chat-provider`);
      await page.waitForFunction((sel) => !document.querySelector(`${sel} .chat-pending`), lastAnswer);
      const final = (await page.textContent(`${lastAnswer} .chat-body`)).trim();
      const provider = (await page.textContent(`${lastAnswer} .chat-provider`)).trim();
      const upstream = (await page.textContent(`${lastAnswer} .chat-upstream`)).trim();
      const ttft = (await page.textContent(`${lastAnswer} .chat-ttft`)).trim();
      const markdown = await page.$$eval(`${lastAnswer} .chat-body strong`, (els) => els.map((e) => e.textContent));
      const injected = await page.$$eval(`${lastAnswer} .chat-body img, ${lastAnswer} .chat-body script`, (els) => els.length);
      const sent = await page.$$eval('#chat-log .chat-user .chat-body', (els) => els.map((e) => e.textContent));
      await shoot('chat');
      return { partial, final, provider, upstream, ttft, markdown, injected, sent };
    });

    await step('chat-tool', async () => {
      await pick(TOOL.row);
      await page.fill('#chat-input', 'read a.rs');
      await page.keyboard.press('Enter');
      // The call as it stands once the answer has finished streaming.
      await page.waitForSelector(`${lastAnswer} .chat-tool`);
      await page.waitForFunction((sel) => !document.querySelector(`${sel} .chat-pending`), lastAnswer);
      const call = (await page.textContent(`${lastAnswer} .chat-tool`)).trim();
      return { call: JSON.parse(call) };
    });

    await step('chat-stop', async () => {
      await pick(ENDLESS.row);
      await page.fill('#chat-input', 'go on forever');
      await page.keyboard.press('Enter');
      await page.waitForFunction((sel) => {
        const el = document.querySelector(`${sel} .chat-body`);
        return el && el.textContent.trim().length > 0;
      }, lastAnswer);
      await page.click('#chat-stop');
      await page.waitForSelector(`${lastAnswer} .chat-stopped`);
      const entry = await waitFor('the stopped request in the log', async () => {
        const logs = await apiGet('/api/logs');
        return logs.entries.find((e) => e.provider === ENDLESS.provider && e.outcome !== 'completed');
      });
      const sendVisible = await page.isVisible('#chat-send');
      return { outcome: entry.outcome, sendVisible };
    });

    await step('chat-reload', async () => {
      await page.reload({ waitUntil: 'load' });
      await page.waitForSelector('#conn-status[data-state="live"]');
      await page.waitForSelector('#chat-log .chat-msg');
      const roles = await page.$$eval('#chat-log .chat-msg', (els) => els.map((e) => (e.classList.contains('chat-user') ? 'user' : 'assistant')));
      const model = await page.inputValue('#chat-model');
      return { roles, model };
    });

    await step('tags', async () => {
      await page.click('#tab-rankings');
      await page.waitForSelector(`#rankings-table tr[data-row-id="${TAGGED.row}"]`);
      const before = await chatFromNode('tag:speedy');
      await page.click(`#rankings-table tr[data-row-id="${TAGGED.row}"] .col-model`);
      await page.waitForSelector('#drawer:not([hidden])');
      await page.fill('#drawer-tags-input', 'Speedy, my pick');
      await page.click('#drawer-tags-save');
      await page.waitForSelector('#drawer-tag-chips .tag-user[data-tag="speedy"]');
      const chips = await page.$$eval('#drawer-tag-chips .tag-user', (els) => els.map((e) => e.dataset.tag));
      const after = await chatFromNode('tag:speedy');
      await shoot('tags');
      // Removing the chip takes the row out of the tag again.
      await page.click('#drawer-tag-chips button[data-remove-tag="speedy"]');
      await page.waitForSelector('#drawer-tag-chips .tag-user[data-tag="speedy"]', { state: 'detached' });
      const removed = await chatFromNode('tag:speedy');
      await page.click('#drawer-close');
      const option = await page.$$eval('#chat-model option', (els) => els.map((e) => e.value).filter((v) => v === 'tag:my-pick'));
      return { before, chips, after, removed, option };
    });

    await step('accounts', async () => {
      await page.click('#tab-accounts');
      await page.waitForSelector(`#accounts-body tr[data-provider="${POOL.provider}"]`);
      const hints = await page.$$eval(`#accounts-body tr[data-provider="${POOL.provider}"] .account-hint`, (els) => els.map((e) => e.textContent));
      const bodyText = await page.textContent('#accounts-table');
      const served = await chatFromNode(POOL.row);
      // The page updates by itself: no reload, no click.
      await page.waitForSelector(`#accounts-body tr[data-provider="${POOL.provider}"][data-index="0"] .account-rate_limited`);
      const state = (await page.textContent(`#accounts-body tr[data-provider="${POOL.provider}"][data-index="0"] .account-rate_limited`)).trim();
      await shoot('accounts');
      return { hints, leaked: bodyText.includes('NEVER-SHOWN'), served, state };
    });
  }
}

const overall = setTimeout(() => {
  summary.ok = false;
  summary.error = `the browser script did not finish within ${OVERALL_MS} ms`;
  console.log(JSON.stringify(summary));
  process.exit(1);
}, OVERALL_MS);
await main();
clearTimeout(overall);
console.log(JSON.stringify(summary));
process.exit(summary.ok ? 0 : 1);
