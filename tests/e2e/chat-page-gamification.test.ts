import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { grantBesitos } from '../../lib/besitos/ledger.js';
import { createDb } from '../../lib/db/client.js';
import { silentLogger } from '../../lib/log.js';
import { startServer, type RunningServer } from '../../dev/server.js';
import { testDatabaseUrl } from '../support/db.js';
import { CHROMIUM, haveChromium, launchChromium, watchPageErrors } from '../support/browser.js';
import { skipped } from '../support/skips.js';

/**
 * Missions, achievements, shop and backpack on the chat page (npm run dev, the real content published
 * at start), in headless Chromium as tests/e2e/chat-page.test.ts: buy with the buttons, be congratulated
 * for the mission and the achievement the purchase completes, use the item from /mochila.
 */
describe.skipIf(skipped('gamification on the chat page (e2e/chat-page-gamification)', !haveChromium, `no Chromium at ${CHROMIUM}`))('gamification on the chat page', () => {
  let server: RunningServer;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  const pageErrors: string[] = [];
  const db = createDb(testDatabaseUrl(), { max: 2 });

  beforeAll(async () => {
    profile = await mkdtemp(path.join(os.tmpdir(), 'dianabot-chromium-'));
    server = await startServer({
      mode: 'dev',
      env: { DATABASE_URL: testDatabaseUrl(), LOG_LEVEL: 'silent' },
      port: 0,
      dataDir: path.join(profile, 'dev-data'),
      print: () => {},
      log: silentLogger,
    });
    ({ context, page } = await launchChromium(profile));
    watchPageErrors(page, pageErrors);
  });

  afterAll(async () => {
    await context?.close();
    await server?.close();
    await db.end({ timeout: 5 });
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  const messages = () => page.getByTestId('bot-message');
  const say = async (text: string) => {
    await page.fill('#composer-input', text);
    await page.press('#composer-input', 'Enter');
  };

  it('buys the amulet, completes a mission and unlocks an achievement, then uses it from the backpack', async () => {
    await page.goto(server.chatUrl!);
    await page.fill('#new-name', 'Greta');
    await page.click('#new-user-submit');
    await expect.poll(() => page.locator('.user[aria-current="true"]').textContent()).toContain('Greta');
    await say('/start');
    await expect.poll(() => messages().count(), { timeout: 10_000 }).toBeGreaterThan(0);
    const [user] = await db<{ id: number }[]>`SELECT id FROM users WHERE first_name = 'Greta' ORDER BY id DESC LIMIT 1`;
    await grantBesitos(db, { userId: user!.id, amount: 500, source: 'admin', idempotencyKey: `chat-page-gam:${user!.id}` });

    await say('/tienda');
    await expect.poll(() => messages().last().textContent(), { timeout: 10_000 }).toContain('Tienda');
    await messages().last().locator('.kb-btn', { hasText: 'Potenciadores' }).click();
    await expect.poll(() => messages().last().textContent(), { timeout: 10_000 }).toContain('Amuleto del saber');
    await messages().last().locator('.kb-btn', { hasText: 'Amuleto del saber' }).click();
    await expect.poll(() => messages().last().textContent(), { timeout: 10_000 }).toContain('¿Compras');
    await messages().last().locator('.kb-btn', { hasText: 'Comprar' }).click();
    await expect.poll(() => page.getByTestId('bot-message').filter({ hasText: 'Compraste' }).count(), { timeout: 10_000 }).toBe(1);

    // The subscriber and the scheduler run in-process under npm run dev: the congratulations arrive.
    await expect.poll(() => page.getByTestId('bot-message').filter({ hasText: 'Misión cumplida: De compras' }).count(), { timeout: 20_000 }).toBe(1);
    await expect.poll(() => page.getByTestId('bot-message').filter({ hasText: 'Logro desbloqueado: Cliente VIP' }).count(), { timeout: 20_000 }).toBe(1);

    await say('/mochila');
    await expect.poll(() => messages().last().textContent(), { timeout: 10_000 }).toContain('Tu mochila');
    await messages().last().locator('.kb-btn', { hasText: 'Usar Amuleto del saber' }).click();
    await expect.poll(() => page.getByTestId('bot-message').filter({ hasText: 'activo: tus trivias dan el doble' }).count(), { timeout: 10_000 }).toBe(1);

    await say('/logros');
    await expect.poll(() => messages().last().textContent(), { timeout: 10_000 }).toContain('Cliente VIP');

    await mkdir('test-results', { recursive: true });
    await page.screenshot({ path: path.join('test-results', 'chat-page-gamification.png') });
    expect(pageErrors).toEqual([]);
  });
});
