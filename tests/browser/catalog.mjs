// Drives the Rankings tab (ui/) in headless Chromium for tests/catalog_freshness.rs: the router
// serves Groq's built-in rows from a fake whose model list omits one of them, so that row is
// retired. The table must hide it by default, show it (with its reason) when "Show retired" is
// ticked or the status filter asks for "Retired", and never rank it.
//
//   node tests/browser/catalog.mjs <router-base-url> <retired-row-id> <listed-row-id>
//
// Prints a JSON summary on stdout ({"ok": true, ...}); exits 1 with {"error": ...} when a
// check fails. Nothing here reaches the internet.
import { check, openPage } from './chromium.mjs';

const [base, retiredId, listedId] = process.argv.slice(2);
if (!base || !retiredId || !listedId) {
  console.error('usage: node catalog.mjs <router-base-url> <retired-row-id> <listed-row-id>');
  process.exit(2);
}

const summary = { consoleErrors: [] };
const rowSel = (id) => `#rankings-table tr[data-row-id="${id}"]`;

async function main() {
  const { page, close } = await openPage('catalog', summary, 15000);
  const state = (id) => page.$eval(rowSel(id), (tr) => ({
    hidden: tr.hidden,
    status: tr.querySelector('.col-status').textContent.trim(),
    title: tr.querySelector('.col-status .status')?.title || '',
    rank: tr.querySelector('.col-rank').textContent.trim(),
  }));
  try {
    await page.goto(`${base}/`, { waitUntil: 'load' });
    await page.waitForSelector('#conn-status[data-state="live"]');
    await page.waitForSelector(rowSel(retiredId), { state: 'attached' });
    await page.waitForSelector(rowSel(listedId));

    const byDefault = await state(retiredId);
    check(byDefault.hidden, 'a retired row is shown by default', byDefault);
    const listed = await state(listedId);
    check(!listed.hidden && listed.status !== 'Retired', 'the listed row is hidden or retired', listed);
    const count = (await page.textContent('#retired-count')).trim();
    check(/^\(\d+\)$/.test(count), 'the "Show retired" box does not say how many rows it hides', count);

    await page.check('#filter-retired');
    const shown = await state(retiredId);
    check(!shown.hidden && shown.status === 'Retired', 'ticking "Show retired" does not show the row as retired', shown);
    check(shown.title.includes('no longer has this model'), 'the retired row does not say why', shown);
    check(shown.rank === '—', 'a retired row is ranked', shown);

    await page.uncheck('#filter-retired');
    check((await state(retiredId)).hidden, 'unticking does not hide the row again');
    await page.selectOption('#filter-status', 'retired');
    const filtered = await state(retiredId);
    check(!filtered.hidden, 'the "Retired" status filter does not show the row', filtered);
    check((await state(listedId)).hidden, 'the "Retired" status filter shows a listed row');

    check(summary.consoleErrors.length === 0, 'console errors', summary.consoleErrors);
    Object.assign(summary, { ok: true, byDefault, shown, count });
  } catch (err) {
    summary.ok = false;
    summary.error = String(err && err.message || err);
  } finally {
    await close();
  }
}

const overall = setTimeout(() => {
  summary.ok = false;
  summary.error = 'timed out after 60 s';
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  process.exit(1);
}, 60000);
await main();
clearTimeout(overall);
process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
process.exit(summary.ok ? 0 : 1);
