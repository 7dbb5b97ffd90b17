import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { silentLogger } from '../../lib/log.js';
import { cachedStoryContent } from '../../lib/narrative/index.js';
import { startServer, type RunningServer } from '../../dev/server.js';
import { testDatabaseUrl } from '../support/db.js';
import { CHROMIUM, haveChromium, launchChromium, watchPageErrors } from '../support/browser.js';
import { skipped } from '../support/skips.js';
import { fixtureIndex } from '../support/story-fixture.js';

/** The story on the chat page (npm run dev), in headless Chromium as tests/e2e/chat-page.test.ts. */

describe.skipIf(skipped('the story on the chat page (e2e/chat-page-story)', !haveChromium, `no Chromium at ${CHROMIUM}`))('the story on the chat page', () => {
  let server: RunningServer;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    profile = await mkdtemp(path.join(os.tmpdir(), 'dianabot-chromium-'));
    server = await startServer({
      mode: 'dev',
      env: { DATABASE_URL: testDatabaseUrl(), LOG_LEVEL: 'silent' },
      port: 0,
      dataDir: path.join(profile, 'dev-data'),
      print: () => {},
      log: silentLogger,
      appOverrides: { story: cachedStoryContent(async () => fixtureIndex()) },
    });
    ({ context, page } = await launchChromium(profile));
    watchPageErrors(page, pageErrors);
  });

  afterAll(async () => {
    await context?.close();
    await server?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  // The story's own messages: an achievement's congratulation (gamification, sent by a scheduled job)
  // may arrive at any point between them.
  const botMessages = () => page.getByTestId('bot-message').filter({ hasNotText: 'Logro desbloqueado' });

  it('shows fragments, the media placeholder and decision buttons; choosing removes the old buttons', async () => {
    await page.goto(server.chatUrl!);
    await page.fill('#new-name', 'Irene');
    await page.click('#new-user-submit');
    await expect.poll(() => page.locator('.user[aria-current="true"]').textContent()).toContain('Irene');

    await page.fill('#composer-input', '/historia');
    await page.press('#composer-input', 'Enter');
    await expect.poll(() => botMessages().count(), { timeout: 10_000 }).toBe(3); // level intro, photo, fragment
    expect(await botMessages().nth(0).textContent()).toContain('Nivel 1 · Uno');
    expect(await botMessages().nth(1).textContent()).toMatch(/🖼[\s\S]*diana\.jpg[\s\S]*Diana/); // placeholder, file name, caption
    const first = botMessages().nth(2);
    expect(await first.locator('strong').first().textContent()).toBe('Diana:');
    await first.locator('.kb-btn', { hasText: 'Continuar' }).click();

    await expect.poll(() => botMessages().count(), { timeout: 10_000 }).toBe(4);
    await expect.poll(() => first.locator('.kb-btn').count()).toBe(0); // the choice took the buttons away
    const decision = botMessages().last();
    expect(await decision.textContent()).toContain('¿A dónde?');
    expect(await decision.locator('.kb-btn').allTextContents()).toEqual(['Al jardín', 'Volver', 'El camerino']);
    await decision.locator('.kb-btn', { hasText: 'Al jardín' }).click();
    await expect.poll(() => botMessages().last().textContent(), { timeout: 10_000 }).toContain('brilla de noche');

    await mkdir('test-results', { recursive: true });
    await page.screenshot({ path: path.join('test-results', 'chat-page-story.png') });
    expect(pageErrors).toEqual([]);
  });
});
