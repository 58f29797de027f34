// Drives the settings and rankings page (ui/) in headless Chromium against a running engine, for
// tests/ui_browser.rs, which starts the engine with two fake OpenAI-compatible endpoints
// (`fast` serving `fast-coder`, `slow` serving `slow-coder`, both already measured) and a third
// fake that is not configured yet and lists `gamma-coder` and `gamma-mini` on /models.
//
//   node tests/browser/ui.mjs <router-base-url> <third-fake-base-url> <screenshot-dir>
//
// Between UI steps it sends /v1/chat/completions requests (from Node, not from the page) and reads
// `x-modelrelay-provider` to see where each one went. Prints a JSON summary on stdout; exits 1 with
// `{"error": ...}` in the summary when a step fails. Progress goes to stderr.
//
// `playwright-core` is installed next to this file by .ci/run (`npm install` in tests/browser); the
// browser is Debian's /usr/bin/chromium. Nothing here reaches the internet.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { check, openPage } from './chromium.mjs';

const [base, thirdFakeUrl, shotDir] = process.argv.slice(2);
if (!base || !thirdFakeUrl || !shotDir) {
  console.error('usage: node ui.mjs <router-base-url> <third-fake-base-url> <screenshot-dir>');
  process.exit(2);
}

const FAST = { provider: 'openai-compatible:fast', row: 'openai-compatible:fast/fast-coder' };
const SLOW = { provider: 'openai-compatible:slow', row: 'openai-compatible:slow/slow-coder' };
const NEW_ENDPOINT = { name: 'Gamma', provider: 'openai-compatible:gamma', models: ['gamma-coder', 'gamma-mini'] };
const WAIT_MS = 15000;
const OVERALL_MS = 100000;

const summary = { steps: [], screenshots: [], consoleErrors: [] };
const log = (...args) => console.error('[ui.mjs]', ...args);


/** One chat request from Node; answers where it went. */
async function servedBy(model) {
  const res = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, stream: false, messages: [{ role: 'user', content: 'hello' }] }),
  });
  const body = await res.text();
  let content = null;
  try { content = JSON.parse(body).choices?.[0]?.message?.content ?? null; } catch (_) { /* error body */ }
  return { model, status: res.status, provider: res.headers.get('x-modelrelay-provider'), content };
}

async function apiGet(path) {
  const res = await fetch(`${base}${path}`);
  check(res.ok, `GET ${path} failed`, res.status);
  return res.json();
}

const rowSel = (id) => `#rankings-table tr[data-row-id="${id}"]`;
const rowButton = (id, action) => `${rowSel(id)} button[data-action="${action}"]`;

async function main() {
  mkdirSync(shotDir, { recursive: true });
  const { page, close } = await openPage('ui', summary, WAIT_MS);

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
  const rowIds = () => page.$$eval('#rankings-table tr[data-row-id]', (trs) => trs.map((tr) => tr.dataset.rowId));
  const autoFastestRow = () => page.getAttribute('#auto-fastest', 'data-row-id');
  const toasts = () => page.$$eval('#toast .toast-text', (els) => els.map((e) => e.textContent));

  try {
    await step('load', async () => {
      const response = await page.goto(`${base}/`, { waitUntil: 'load' });
      check(response && response.status() === 200, 'GET / did not answer 200', response && response.status());
      await page.waitForSelector('#conn-status[data-state="live"]');
      await page.waitForSelector(rowSel(FAST.row));
      await page.waitForSelector(rowSel(SLOW.row));
      await page.waitForFunction((id) => document.getElementById('auto-fastest').dataset.rowId === id, FAST.row);
      // The built-in catalog's rows are listed too (keyless, unranked); the two measured rows
      // lead the table in auto-fastest order.
      const all = await page.$$eval('#rankings-table tr[data-row-id]', (trs) => trs.map((tr) => ({
        id: tr.dataset.rowId,
        rank: tr.querySelector('.col-rank').textContent.trim(),
        status: tr.querySelector('.col-status').textContent.trim(),
        hidden: tr.hidden,
      })));
      const rows = all.slice(0, 2);
      check(rows.map((r) => r.id).join(',') === `${FAST.row},${SLOW.row}`, 'the measured rows do not lead in auto-fastest order', all.slice(0, 5));
      check(rows.map((r) => r.rank).join(',') === '1,2', 'the measured rows are not ranked 1 and 2', rows);
      check(rows.every((r) => r.status === 'Up' && !r.hidden), 'the measured rows are not shown as up', rows);
      const othersRanked = all.slice(2).filter((r) => r.rank !== '—');
      check(othersRanked.length === 0, 'rows without a key are ranked', othersRanked.slice(0, 5));
      const autoName = (await page.textContent('#auto-fastest-name')).trim();
      check(autoName !== '…' && autoName !== 'nothing available', 'the header does not name auto-fastest', autoName);
      const conn = await page.getAttribute('#conn-status', 'data-state');
      // Team mode is on (a local redis-server): the header says where the shared state lives.
      await page.waitForSelector('#shared-state[data-state="live"]');
      const sharedState = await page.$eval('#shared-state', (el) => ({ text: el.textContent.trim(), hidden: el.hidden }));
      const errorsAtLoad = summary.consoleErrors.slice();
      check(errorsAtLoad.length === 0, 'console errors while loading', errorsAtLoad);
      await shoot('rankings');
      const served = await servedBy('auto-fastest');
      check(served.status === 200 && served.provider === FAST.provider, 'auto-fastest is not on the fast row before any change', served);
      return { rows, totalRows: all.length, autoFastest: await autoFastestRow(), autoName, conn, sharedState, errorsAtLoad: errorsAtLoad.length, served };
    });

    await step('pin', async () => {
      await page.click(rowButton(SLOW.row, 'pin'));
      await page.waitForSelector(`${rowButton(SLOW.row, 'pin')}[aria-pressed="true"]`);
      await page.waitForSelector('#pin-banner:not([hidden])');
      const banner = (await page.textContent('#pin-label')).trim();
      const pinned = await apiGet('/api/pinned');
      check(pinned.pinned && pinned.pinned.provider === SLOW.provider, '/api/pinned does not show the pin made in the UI', pinned);
      const served = await servedBy('auto-fastest');
      check(served.status === 200 && served.provider === SLOW.provider, 'after pinning the slow row, auto-fastest did not go to it', served);
      await shoot('pinned');
      return { banner, pinned: pinned.pinned, served, toasts: await toasts() };
    });

    await step('unpin', async () => {
      await page.click('#unpin');
      await page.waitForSelector('#pin-banner', { state: 'hidden' });
      await page.waitForSelector(`${rowButton(SLOW.row, 'pin')}[aria-pressed="false"]`);
      const served = await servedBy('auto-fastest');
      check(served.status === 200 && served.provider === FAST.provider, 'after unpinning, auto-fastest did not return to the fast row', served);
      return { served };
    });

    await step('ban', async () => {
      await page.click(rowButton(FAST.row, 'ban'));
      await page.waitForSelector(`${rowButton(FAST.row, 'ban')}[aria-pressed="true"]`);
      await page.waitForSelector(`${rowSel(FAST.row)}.is-banned`);
      const status = (await page.textContent(`${rowSel(FAST.row)} .col-status`)).trim();
      check(status === 'Banned', 'the banned row does not say so', status);
      await page.waitForFunction((id) => document.getElementById('auto-fastest').dataset.rowId === id, SLOW.row);
      const served = await servedBy('auto-fastest');
      check(served.status === 200 && served.provider === SLOW.provider, 'after banning the fast row, auto-fastest still went to it', served);
      const direct = await servedBy(FAST.row);
      check(direct.status === 503, 'the banned row still answers when asked for by id', direct);
      await shoot('banned');
      return { status, autoFastest: await autoFastestRow(), served, direct: { status: direct.status }, toasts: await toasts() };
    });

    await step('add-endpoint', async () => {
      await page.click('#tab-providers');
      await page.waitForSelector('#panel-providers:not([hidden])');
      const form = '#endpoint-form';
      await page.fill(`${form} input[name="name"]`, NEW_ENDPOINT.name);
      await page.fill(`${form} input[name="baseUrl"]`, thirdFakeUrl);
      check(await page.isChecked(`${form} input[name="discoverModels"]`), 'model discovery is not on by default');
      await page.click('#endpoint-submit');
      await page.waitForFunction(() => document.getElementById('endpoint-result').classList.contains('is-ok'));
      const result = (await page.textContent('#endpoint-result')).trim();
      await page.waitForSelector(`[data-provider="${NEW_ENDPOINT.provider}"]`).catch(() => null);
      await shoot('providers');
      await page.click('#tab-rankings');
      await page.waitForSelector('#panel-rankings:not([hidden])');
      // Discovery runs in the background after the endpoint is saved; its rows arrive over SSE.
      const wanted = NEW_ENDPOINT.models.map((m) => `${NEW_ENDPOINT.provider}/${m}`);
      await page.waitForFunction((ids) => ids.every((id) => document.querySelector(`#rankings-table tr[data-row-id="${id}"]`)), wanted);
      const ids = (await rowIds()).filter((id) => id.startsWith(`${NEW_ENDPOINT.provider}/`)).sort();
      const served = await servedBy(wanted[0]);
      check(served.status === 200 && served.provider === NEW_ENDPOINT.provider, 'a discovered model of the new endpoint is not served by it', served);
      // The provider filter narrows the table to the new rows for the screenshot.
      await page.selectOption('#filter-provider', NEW_ENDPOINT.provider);
      await page.waitForFunction((n) => [...document.querySelectorAll('#rankings-table tr[data-row-id]')].filter((tr) => !tr.hidden).length === n, wanted.length);
      // The request it just served reaches the page over SSE: the row turns Up.
      await page.waitForFunction((id) => document.querySelector(`#rankings-table tr[data-row-id="${id}"] .col-status`)?.textContent.trim() === 'Up', wanted[0]);
      await shoot('endpoint-added');
      return { result, rows: ids, served };
    });

    await step('hedging-settings', async () => {
      await page.click('#tab-settings');
      await page.waitForSelector('#panel-settings:not([hidden])');
      const shown = {
        enabled: await page.isChecked('#hedging-enabled'),
        minDelayMs: await page.inputValue('#hedging-min-delay'),
        maxSharePercent: await page.inputValue('#hedging-max-share'),
        minDailyQuota: await page.inputValue('#hedging-min-daily'),
      };
      // An out-of-range share is refused on the page, before anything is sent.
      await page.fill('#hedging-max-share', '150');
      await page.click('#hedging-save');
      await page.waitForFunction(() => document.getElementById('hedging-message').classList.contains('is-error'));
      const refusal = (await page.textContent('#hedging-message')).trim();
      await page.fill('#hedging-min-delay', '250');
      await page.fill('#hedging-max-share', '20');
      await page.click('#hedging-save');
      await page.waitForFunction(() => document.getElementById('hedging-message').textContent === 'Saved.');
      const saved = (await apiGet('/api/settings')).hedging;
      await shoot('hedging');
      return { shown, refusal, saved };
    });

    check(summary.consoleErrors.length === 0, 'console errors during the run', summary.consoleErrors);
    summary.ok = true;
  } catch (err) {
    summary.ok = false;
    summary.error = String(err && err.message || err);
    summary.pageState = await page.evaluate(() => ({
      conn: document.getElementById('conn-status').dataset.state,
      autoFastest: document.getElementById('auto-fastest').dataset.rowId,
      firstRows: [...document.querySelectorAll('#rankings-table tr[data-row-id]')].slice(0, 5).map((tr) => tr.dataset.rowId),
      toasts: [...document.querySelectorAll('#toast .toast-text')].map((e) => e.textContent),
      endpointResult: document.getElementById('endpoint-result').textContent,
    })).catch((e) => String(e));
    await page.screenshot({ path: join(shotDir, 'ui-failure.png'), fullPage: true }).catch(() => {});
    summary.screenshots.push(join(shotDir, 'ui-failure.png'));
  } finally {
    await close();
  }
}

const overall = setTimeout(() => {
  summary.ok = false;
  summary.error = `timed out after ${OVERALL_MS} ms`;
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  process.exit(1);
}, OVERALL_MS);

main().catch((err) => {
  summary.ok = false;
  summary.error = String(err && err.stack || err);
}).finally(() => {
  clearTimeout(overall);
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  process.exit(summary.ok ? 0 : 1);
});
