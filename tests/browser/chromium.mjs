// The one way the browser tests open the page: Debian's /usr/bin/chromium, headless, through
// playwright-core, in a throwaway profile, with every console error and uncaught exception
// collected in `summary.consoleErrors`; and `check`, how a step fails. Nothing here reaches the
// internet.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

/** Opens a page; `close()` ends the browser and removes its profile. */
export async function openPage(name, summary, timeoutMs) {
  const profile = mkdtempSync(join(tmpdir(), `modelrelay-${name}-chromium-`));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--no-first-run', '--no-proxy-server'],
    viewport: { width: 1440, height: 900 },
  });
  const page = context.pages()[0] ?? await context.newPage();
  page.setDefaultTimeout(timeoutMs);
  page.on('console', (msg) => {
    if (msg.type() === 'error') summary.consoleErrors.push({ kind: 'console', text: msg.text(), location: msg.location() });
  });
  page.on('pageerror', (err) => summary.consoleErrors.push({ kind: 'pageerror', text: String(err && err.stack || err) }));
  const close = async () => {
    await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  };
  return { context, page, close };
}

/** A failed check: the script's summary gets its message. */
export class StepFailed extends Error {}

/** Fails the step with `message` (and `detail`, as JSON) unless `condition` holds. */
export function check(condition, message, detail) {
  if (!condition) throw new StepFailed(detail === undefined ? message : `${message}: ${JSON.stringify(detail)}`);
}
