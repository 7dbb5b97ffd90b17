import { existsSync } from 'node:fs';
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';

/** Debian's Chromium (a browser download does not work on these machines); CHROMIUM_PATH overrides it. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const haveChromium = existsSync(CHROMIUM);

/**
 * Headless Chromium for the chat-page tests, with its profile under `profile`. The flags keep it off the
 * network (this machine's closed network refuses its background connections) and runnable as root.
 */
export async function launchChromium(
  profile: string,
  options: { timezoneId?: string } = {},
): Promise<{ context: BrowserContext; page: Page }> {
  const { chromium } = await import('playwright-core');
  const context = await chromium.launchPersistentContext(path.join(profile, 'chromium'), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1360, height: 860 },
    locale: 'es-MX',
    ...options,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return { context, page };
}

/** Collects into `errors` what a chat page must never show: script errors, 5xx answers, console errors. */
export function watchPageErrors(page: Page, errors: string[]): void {
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('response', (r) => r.status() >= 500 && errors.push(`${r.status()} ${r.url()}`));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
}
