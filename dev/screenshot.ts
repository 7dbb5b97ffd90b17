// Regenerates docs/chat-page.png (the README's picture of the chat page):
//   npx tsx dev/screenshot.ts [out.png]
// A throwaway dev server (embedded PostgreSQL in a temp folder), two test users, a short conversation,
// then a screenshot from Debian's Chromium through playwright-core.
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { silentLogger } from '../lib/log.js';
import { ROOT_DIR, startServer } from './server.js';

const out = path.resolve(process.argv[2] ?? path.join(ROOT_DIR, 'docs', 'chat-page.png'));
const dataDir = await mkdtemp(path.join(os.tmpdir(), 'dianabot-shot-'));
await chmod(dataDir, 0o755);
const server = await startServer({ mode: 'dev', env: { LOG_LEVEL: 'silent' }, port: 0, dataDir, print: () => {}, log: silentLogger });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1, locale: 'es-MX', timezoneId: 'America/Mexico_City' });
  await page.goto(server.chatUrl!);
  const bot = page.getByTestId('bot-message');
  const createUser = async (name: string, username: string) => {
    await page.fill('#new-name', name);
    await page.fill('#new-username', username);
    await page.click('#new-user-submit');
    await page.locator('.user[aria-current="true"]', { hasText: name }).waitFor();
  };
  const send = async (text: string) => {
    const before = await bot.count();
    await page.fill('#composer-input', text);
    await page.press('#composer-input', 'Enter');
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid="bot-message"]').length > n, before);
    await page.waitForTimeout(150);
  };
  await createUser('Bruno', 'bruno_dev');
  await send('/start');
  await page.click('#new-group'); // the test group shows in the sidebar
  await page.locator('#chat-name', { hasText: 'Grupo de prueba' }).waitFor();
  await createUser('Lucía', 'lucia_dev');
  await send('hola diana');
  await send('/regalo');
  await send('/regalar 3 @bruno_dev');
  const confirm = bot.last().locator('.kb-btn').first();
  if (await confirm.count()) {
    const before = await bot.count();
    await confirm.click();
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid="bot-message"]').length >= n, before);
    await page.waitForTimeout(300);
  }
  await send('/saldo');
  await page.fill('#composer-input', '/');
  await page.dispatchEvent('#composer-input', 'input');
  await page.waitForTimeout(200);
  await page.locator('#command-menu').evaluate((n) => ((n as HTMLElement).hidden = true));
  await page.fill('#composer-input', '');
  await mkdir(path.dirname(out), { recursive: true });
  await page.screenshot({ path: out });
  console.log(`screenshot: ${out}`);
} finally {
  await browser.close();
  await server.close();
  await rm(dataDir, { recursive: true, force: true });
}
