import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { createApp } from '../../lib/app.js';
import { parseConfig } from '../../lib/config.js';
import { createMemoryStore } from '../../lib/kv/memory.js';
import { silentLogger } from '../../lib/log.js';
import { devToken, TelegramEmulator } from '../../dev/telegram-emulator.js';
import { testDatabaseUrl } from '../support/db.js';

/** The chat page's emulator plays a Stars payment as Telegram does, against the real webhook handler. */
const token = devToken(5550001);
const emulator = await new TelegramEmulator({ token, bot: { username: 'PayBot' } }).listen();
const app = await createApp(
  parseConfig({ DIANABOT_MODE: 'test', DATABASE_URL: testDatabaseUrl(), TELEGRAM_BOT_TOKEN: token, TELEGRAM_WEBHOOK_SECRET: 'pay-secret', TELEGRAM_API_ROOT: emulator.url, BOT_USERNAME: 'PayBot', LOG_LEVEL: 'silent' }),
  { kv: createMemoryStore(), log: silentLogger },
);
const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    const r = await app.webhook({ method: 'POST', headers: req.headers as Record<string, string>, body: Buffer.concat(chunks).toString() });
    res.writeHead(r.status).end(r.body);
  });
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
await fetch(`${emulator.url}/bot${token}/setWebhook`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, secret_token: 'pay-secret' }),
});
afterAll(async () => {
  await app.close();
  server.closeAllConnections();
  server.close();
  await emulator.close();
});

const lastBot = (id: number) => emulator.messages(id).filter((m) => m.from === 'bot').at(-1)!;

describe('paying in the emulator (chat page)', () => {
  it('the pass: an invoice with a Pay button; paying sends the pre-checkout, then successful_payment; VIP starts', async () => {
    const id = 61_000_001;
    emulator.addUser({ id, first_name: 'Paula' });
    await emulator.sendText(id, '/vip');
    await emulator.pressButton(id, lastBot(id).message_id, 'vip:buy:pass30');
    const invoice = lastBot(id);
    expect(invoice.invoice).toMatchObject({ currency: 'XTR', total_amount: 300, title: 'Pase VIP 30 días' });
    const paid = await emulator.payInvoice(id, { messageId: invoice.message_id });
    expect(paid.ok).toBe(true);
    expect(emulator.callsOf('answerPreCheckoutQuery')[0]!.payload.ok).toBe(true);
    expect(lastBot(id).text).toContain('Ya eres VIP');
    const [u] = await app.db`SELECT status FROM users WHERE telegram_id = ${id}`;
    expect(u!.status).toBe('vip');
    // The same invoice message cannot be paid twice in the emulator.
    expect((await emulator.payInvoice(id, { messageId: invoice.message_id })).ok).toBe(false);
  });

  it('the monthly subscription through its invoice link; a refused pre-checkout shows the reason and charges nothing', async () => {
    const id = 61_000_002;
    emulator.addUser({ id, first_name: 'Marta' });
    await emulator.sendText(id, '/vip');
    await emulator.pressButton(id, lastBot(id).message_id, 'vip:buy:monthly');
    const link = (lastBot(id).reply_markup as { inline_keyboard: { url?: string }[][] }).inline_keyboard[0]![0]!.url!;
    expect(link).toMatch(/^https:\/\/t\.me\/\$/);
    expect((await emulator.payInvoice(id, { link })).ok).toBe(true);
    const [s] = await app.db`SELECT s.recurring FROM vip_subscriptions s JOIN users u ON u.id = s.user_id WHERE u.telegram_id = ${id}`;
    expect(s!.recurring).toBe(true);
    await app.db`UPDATE users SET status = 'banned' WHERE telegram_id = ${id}`;
    const refused = await emulator.payInvoice(id, { link });
    expect(refused).toMatchObject({ ok: false, error: expect.stringContaining('suspendida') });
    expect(await app.db`SELECT 1 FROM vip_payments p JOIN users u ON u.id = p.user_id WHERE u.telegram_id = ${id}`).toHaveLength(1);
  });
});
