import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { getBalance, grantBesitos } from '../../lib/besitos/ledger.js';
import { silentLogger } from '../../lib/log.js';
import { formatStamp } from '../../lib/time/format.js';
import { startServer, type RunningServer } from '../../dev/server.js';
import { testDatabaseUrl } from '../support/db.js';
import { CHROMIUM, haveChromium, launchChromium } from '../support/browser.js';
import { skipped } from '../support/skips.js';

/** The chat page tells the truth: users kept, live panel, the bot's zone, unique @usernames, replies, a group. */
const ZONE = 'Asia/Tokyo'; // far from the machine's and the browser's zone, so a wrong zone shows

describe.skipIf(skipped('chat page persistence, panel, replies, group (e2e/chat-page-conversation)', !haveChromium, `no Chromium at ${CHROMIUM}`))('chat page: persistence, live panel, replies and a group', () => {
  let server: RunningServer;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  let dataDir: string;
  const pageErrors: string[] = [];
  const start = () =>
    startServer({ mode: 'dev', env: { DATABASE_URL: testDatabaseUrl(), LOG_LEVEL: 'silent', BOT_TIMEZONE: ZONE }, port: 0, dataDir, print: () => {}, log: silentLogger });

  beforeAll(async () => {
    profile = await mkdtemp(path.join(os.tmpdir(), 'dianabot-chromium-'));
    dataDir = path.join(profile, 'dev-data');
    server = await start();
    ({ context, page } = await launchChromium(profile, { timezoneId: 'America/Los_Angeles' }));
    page.on('pageerror', (e) => pageErrors.push(e.message));
    // The refused @usernames (400, 409) and the restart (connection refused) log expected resource errors.
    page.on('console', (m) => m.type() === 'error' && !/status of 40[09]|ERR_CONNECTION_REFUSED/.test(m.text()) && pageErrors.push(m.text()));
  });

  afterAll(async () => {
    await context?.close();
    await server?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  const botMessages = () => page.getByTestId('bot-message');
  const current = () => page.locator('.user[aria-current="true"]');
  async function send(text: string) {
    const before = await botMessages().count();
    await page.fill('#composer-input', text);
    await page.press('#composer-input', 'Enter');
    await expect.poll(() => botMessages().count(), { timeout: 10_000 }).toBeGreaterThan(before);
    return botMessages().last();
  }
  async function createUser(name: string, username = '') {
    await page.fill('#new-name', name);
    await page.fill('#new-username', username);
    await page.click('#new-user-submit');
  }
  const tgOf = async (name: string) => Number(await page.locator('.user', { hasText: name }).getAttribute('data-user-id'));
  const internalId = async (tg: number) => (await server.app.db<{ id: number }[]>`SELECT id FROM users WHERE telegram_id = ${tg}`)[0]!.id;

  it('@usernames are unique, refused in Spanish; the panel follows every ledger change, dated in the bot zone', async () => {
    await page.goto(server.chatUrl!);
    await createUser('Lucía', 'lucia_prueba');
    await expect.poll(() => current().textContent()).toContain('Lucía');
    await createUser('Otra', 'LUCIA_prueba');
    await expect.poll(() => page.locator('#new-user-error').textContent()).toBe('@LUCIA_prueba ya es de Lucía. Elige otro @usuario.');
    await createUser('Otra', 'x');
    await expect.poll(() => page.locator('#new-user-error').textContent()).toContain('de 5 a 32 caracteres');
    expect(await page.locator('.user', { hasText: 'Otra' }).count()).toBe(0);

    await send('/start');
    const lucia = await tgOf('Lucía');
    const before = await botMessages().count();
    // A movement with no bot message (as an undo by the other party): the panel still follows.
    const grant = await grantBesitos(server.app.db, { userId: await internalId(lucia), amount: 25, source: 'admin', idempotencyKey: `page:${lucia}` });
    await expect.poll(() => page.getByTestId('balance').textContent(), { timeout: 10_000 }).toBe('25 besitos');
    expect(await botMessages().count()).toBe(before);
    const stamp = formatStamp(grant.entry.createdAt, ZONE, new Date());
    expect(await page.getByTestId('ledger-entry').first().locator('.l-date').textContent()).toBe(stamp);
    // Message times too are in the bot's zone (the browser runs in Los Angeles).
    const time = await botMessages().last().locator('.meta').textContent();
    const { formatTime } = await import('../../lib/time/format.js');
    const expected = [formatTime(new Date(), ZONE), formatTime(new Date(Date.now() - 60_000), ZONE)];
    expect(expected).toContain(time!.replace('editado · ', ''));
  });

  it('a group with several users: they talk, one replies to another with /regalar, the bot answers in the group', async () => {
    await createUser('Bruno', 'bruno_prueba');
    await expect.poll(() => current().textContent()).toContain('Bruno');
    await send('/start');
    const bruno = await tgOf('Bruno');
    const lucia = await tgOf('Lucía');

    await page.click('#new-group');
    await expect.poll(() => page.locator('#chat-name').textContent()).toBe('Grupo de prueba');
    expect(await page.getByTestId('group').count()).toBe(1);
    await page.selectOption('#speaker', String(bruno));
    await page.fill('#composer-input', 'hola a todos');
    await page.press('#composer-input', 'Enter');
    const hola = page.getByTestId('user-message').filter({ hasText: 'hola a todos' });
    await expect.poll(() => hola.count()).toBe(1);
    expect(await hola.locator('.sender').textContent()).toBe('Bruno');

    // Lucía answers Bruno's message: the reply form of /regalar.
    await page.selectOption('#speaker', String(lucia));
    await expect.poll(() => page.getByTestId('balance').textContent()).toBe('25 besitos'); // the panel shows who speaks
    await hola.hover();
    await hola.locator('.reply-btn').click();
    await expect.poll(() => page.locator('#reply-text').textContent()).toBe('Bruno: hola a todos');
    const confirm = await send('/regalar 3');
    expect(await confirm.textContent()).toContain('¿Regalar 3 besitos a Bruno?');
    const mine = page.getByTestId('user-message').last();
    expect(await mine.getByTestId('quote').textContent()).toContain('Bruno');
    await confirm.locator('.kb-btn', { hasText: 'Sí, regalar' }).click();
    await expect.poll(() => botMessages().last().textContent(), { timeout: 10_000 }).toContain('Le regalaste 3 besitos a Bruno');
    expect((await getBalance(server.app.db, await internalId(bruno))).besitos).toBe(3 + 0);
    await expect.poll(() => page.getByTestId('balance').textContent(), { timeout: 10_000 }).toBe('22 besitos');
    expect(pageErrors).toEqual([]);
  });

  it('users stay after a restart until deleted on the page, also those who never wrote', async () => {
    await createUser('Nadie', 'nadie_prueba');
    await expect.poll(() => current().textContent()).toContain('Nadie');
    await createUser('Borrable', '');
    await expect.poll(() => current().textContent()).toContain('Borrable');
    page.once('dialog', (d) => void d.accept());
    const row = page.locator('.user-row', { hasText: 'Borrable' });
    await row.hover();
    await row.locator('.user-del').click();
    await expect.poll(() => page.locator('.user', { hasText: 'Borrable' }).count()).toBe(0);

    expect(pageErrors).toEqual([]);
    await server.close(); // the open page's requests fail meanwhile: not the page's fault
    server = await start();
    await page.goto(server.chatUrl!);
    pageErrors.length = 0;
    const names = async () => (await page.locator('#users .user-name').allTextContents()).sort();
    await expect.poll(names).toEqual(['Bruno', 'Lucía', 'Nadie']);
    await expect.poll(() => page.getByTestId('group').count()).toBe(1);
    expect(pageErrors).toEqual([]);
  });
});
