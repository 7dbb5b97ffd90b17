import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { grantBesitos } from '../../lib/besitos/ledger.js';
import { silentLogger } from '../../lib/log.js';
import { startServer, type RunningServer } from '../../dev/server.js';
import { testDatabaseUrl } from '../support/db.js';
import { CHROMIUM, haveChromium, launchChromium } from '../support/browser.js';
import { skipped } from '../support/skips.js';

/**
 * The chat page in a real headless Chromium: Debian's /usr/bin/chromium driven by playwright-core
 * (a browser download does not work on these machines; .ci/run installs the package when missing).
 */
if (!haveChromium) {
  console.warn(`[chat-page] skipped: no Chromium at ${CHROMIUM} (install it with "apt-get install -y chromium", or set CHROMIUM_PATH)`);
}

describe.skipIf(skipped('chat page in a browser (e2e/chat-page)', !haveChromium, `no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`))(`chat page in headless Chromium (${CHROMIUM})`, () => {
  let server: RunningServer;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    profile = await mkdtemp(path.join(os.tmpdir(), 'dianabot-chromium-'));
    const dataDir = path.join(profile, 'dev-data'); // the dev server keeps its chats there
    server = await startServer({ mode: 'dev', env: { DATABASE_URL: testDatabaseUrl(), LOG_LEVEL: 'silent' }, port: 0, dataDir, print: () => {}, log: silentLogger });
    ({ context, page } = await launchChromium(profile));
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && pageErrors.push(m.text()));
  });

  afterAll(async () => {
    await context?.close();
    await server?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  const botMessages = () => page.getByTestId('bot-message');
  async function send(text: string) {
    const before = await botMessages().count();
    await page.fill('#composer-input', text);
    await page.press('#composer-input', 'Enter');
    await expect.poll(() => botMessages().count(), { timeout: 10_000 }).toBeGreaterThan(before);
    return botMessages().last();
  }

  it('creates a user, talks to the bot, presses an inline button, and shows the ledger', async () => {
    await page.goto(server.chatUrl!);
    await expect.poll(() => page.locator('#bot-line').textContent()).toContain('@DianaDevBot');

    await page.fill('#new-name', 'Lucía');
    await page.fill('#new-username', 'lucia_prueba');
    await page.click('#new-user-submit');
    const userButton = page.locator('.user[aria-current="true"]');
    await expect.poll(() => userButton.textContent()).toContain('Lucía');
    const telegramId = Number(await userButton.getAttribute('data-user-id'));
    expect(telegramId).toBeGreaterThan(0);

    const welcome = await send('/start');
    expect(await welcome.textContent()).toContain('¡Hola, Lucía!');
    expect(await welcome.locator('strong').first().textContent()).toBe('Lucía'); // <b> rendered as bold, not as text

    const daily = await send('/daily');
    expect(await daily.textContent()).toMatch(/Recibiste 10 besitos/);
    await expect.poll(() => page.getByTestId('balance').textContent()).toBe('10 besitos');

    const balance = await send('/balance');
    expect(await balance.textContent()).toMatch(/Tienes 10 besitos/);

    // 11 more movements, so that /history has a second page behind its inline button.
    const [user] = await server.app.db<{ id: number }[]>`SELECT id FROM users WHERE telegram_id = ${telegramId}`;
    for (let i = 1; i <= 11; i++) {
      await grantBesitos(server.app.db, { userId: user!.id, amount: i, source: 'mission', idempotencyKey: `chat-page:${telegramId}:${i}` });
    }
    const history = await send('/history');
    expect(await history.textContent()).toContain('Tus últimos movimientos');
    const more = history.locator('.kb-btn', { hasText: 'Más ▸' });
    expect(await more.count()).toBe(1);
    const before = await botMessages().count();
    await more.click();
    // Pages in place: the same message now shows the older movements; nothing new is posted.
    const older = botMessages().last();
    await expect.poll(() => older.textContent(), { timeout: 10_000 }).toContain('Movimientos anteriores');
    expect(await botMessages().count()).toBe(before);
    expect(await older.textContent()).toContain('Movimientos anteriores');
    expect(await older.textContent()).toContain('Regalo diario');

    // The wallet panel reads the ledger from the database.
    await expect.poll(() => page.getByTestId('balance').textContent()).toBe(`${(10 + 66).toLocaleString('es-MX')} besitos`);
    await expect.poll(() => page.getByTestId('ledger-entry').count()).toBe(12);

    await mkdir('test-results', { recursive: true });
    await page.screenshot({ path: path.join('test-results', 'chat-page.png') });
    expect(pageErrors).toEqual([]);
  });

  it('renders only Telegram formatting: markup from a message never becomes page markup', async () => {
    const telegramId = Number(await page.locator('.user[aria-current="true"]').getAttribute('data-user-id'));
    const tg = server.app.bot.telegram;
    await tg.sendMessage(
      telegramId,
      '<i>cursiva</i> &lt;img src=x onerror="window.__pwned=1"&gt; <a href="javascript:window.__pwned=1">enlace</a> <span class="tg-spoiler">secreto</span>',
      { parse_mode: 'HTML' },
    );
    await tg.sendMessage(telegramId, '<b>sin parse_mode</b> <img src=x onerror="window.__pwned=1">');
    await expect.poll(() => botMessages().last().textContent()).toContain('<b>sin parse_mode</b>');
    const html = botMessages().nth(-2);
    expect(await html.locator('em').textContent()).toBe('cursiva');
    expect(await html.textContent()).toContain('<img src=x onerror="window.__pwned=1">');
    expect(await html.locator('a').count()).toBe(0); // a javascript: link is shown as text
    expect(await html.locator('.spoiler').textContent()).toBe('secreto');
    expect(await page.locator('.messages img').count()).toBe(0);
    expect(await page.evaluate(() => (window as any).__pwned)).toBeUndefined();

    // A message Telegram would refuse is not shown as sent; the page says why.
    await tg.sendMessage(telegramId, '<div>no</div>', { parse_mode: 'HTML' }).catch(() => {});
    await expect.poll(() => page.getByTestId('notice').last().textContent()).toContain('Unsupported start tag "div"');
  });

  it('switches between users, each with their own chat and wallet', async () => {
    await page.fill('#new-name', 'Bruno');
    await page.click('#new-user-submit');
    await expect.poll(() => page.locator('.user[aria-current="true"]').textContent()).toContain('Bruno');
    expect(await botMessages().count()).toBe(0);
    await expect.poll(() => page.getByTestId('balance').textContent()).toBe('—');
    await send('/start');
    await expect.poll(() => page.getByTestId('balance').textContent()).toBe('0 besitos');

    await page.locator('.user', { hasText: 'Lucía' }).click();
    await expect.poll(() => page.getByTestId('balance').textContent()).toBe('76 besitos');
    await expect.poll(() => botMessages().count()).toBeGreaterThanOrEqual(6);
  });

  it('blocks and unblocks the bot: the bot is told, its messages are refused meanwhile', async () => {
    const current = page.locator('.user[aria-current="true"]');
    const telegramId = Number(await current.getAttribute('data-user-id'));
    await page.click('#block-btn');
    await expect.poll(() => page.getByTestId('notice').last().textContent()).toContain('Lucía bloqueó al bot');
    expect(await current.locator('.user-blocked').count()).toBe(1);
    expect(await page.locator('#block-btn').textContent()).toBe('Desbloquear bot');
    await server.app.bot.telegram.sendMessage(telegramId, 'hola').catch(() => {});
    await expect.poll(() => page.getByTestId('notice').last().textContent()).toContain('Forbidden: bot was blocked by the user');
    await send('/balance'); // writing again unblocks, as Telegram's "Restart" does
    await expect.poll(() => page.locator('.user[aria-current="true"] .user-blocked').count()).toBe(0);
    expect(pageErrors).toEqual([]);
  });

  it('plays a Stars payment: the invoice shows a Pay button that sends the pre-checkout, then the payment', async () => {
    await page.fill('#new-name', 'Vera');
    await page.click('#new-user-submit');
    await expect.poll(() => page.locator('.user[aria-current="true"]').textContent()).toContain('Vera');
    const vip = await send('/vip');
    const before = await botMessages().count();
    await vip.locator('button[data-data="vip:buy:pass30"]').click({ timeout: 5000 });
    await expect.poll(() => botMessages().count()).toBeGreaterThan(before);
    const invoice = page.locator(`.msg[data-id="${await botMessages().last().getAttribute('data-id')}"]`);
    expect(await invoice.locator('.invoice').textContent()).toContain('300 ⭐');
    const afterInvoice = await botMessages().count();
    await invoice.getByTestId('pay').click({ timeout: 5000 });
    await expect.poll(() => botMessages().count(), { timeout: 10_000 }).toBeGreaterThan(afterInvoice);
    expect(await botMessages().last().textContent()).toContain('Ya eres VIP');
    await expect.poll(() => invoice.getByTestId('pay').textContent()).toBe('Pagado ✓');
    expect(pageErrors).toEqual([]);
  });
});
