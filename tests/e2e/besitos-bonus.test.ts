import { describe, expect, it } from 'vitest';
import { grantBesitos } from '../../lib/besitos/ledger.js';
import { uniqueTelegramId } from '../support/db.js';
import { startTestApp, textUpdate } from '../support/app.js';
import { ledgerMismatches } from '../support/ledger.js';
import { lastTo } from '../support/users.js';

const ADMIN = uniqueTelegramId();
const TZ = 'America/Mexico_City';
let offset = 0;
const clock = () => new Date(Date.now() + offset);
const t = await startTestApp({ ADMIN_USER_IDS: String(ADMIN), BOT_TIMEZONE: TZ }, { clock });
const DAY = 86_400_000;

async function userId(tg: number): Promise<number> {
  const [u] = await t.app.db<{ id: number }[]>`SELECT id FROM users WHERE telegram_id = ${tg}`;
  return Number(u!.id);
}

describe('bonus besitos through the webhook', () => {
  it('/bono by an admin, /saldo and /perfil say what expires when, the warning 3 days before, the expiry at 30 days', async () => {
    const ana = uniqueTelegramId();
    await t.post(textUpdate(ana, '/start'));
    await t.post(textUpdate(ADMIN, '/start'));
    const [u] = await t.app.db<{ username: string | null }[]>`SELECT username FROM users WHERE telegram_id = ${ana}`;
    // Not an admin: refused, nothing granted.
    await t.post(textUpdate(ana, '/bono 50'));
    expect(lastTo(t.telegram, 'sendMessage', ana, /./)!.payload.text).toMatch(/administrador|permiso/i);
    await t.post(textUpdate(ADMIN, '/bono diez'));
    expect(lastTo(t.telegram, 'sendMessage', ADMIN, /Besitos bonus/)!.payload.text).toContain('/bono 50 @usuario');
    await t.post(textUpdate(ADMIN, `/bono 40 ${ana}`));
    expect(lastTo(t.telegram, 'sendMessage', ADMIN, /Diste a/)!.payload.text).toMatch(/<b>40 besitos bonus<\/b>\. Caducan el .* si no se usan\./);
    expect(lastTo(t.telegram, 'sendMessage', ana, /Recibiste <b>40 besitos bonus<\/b>/)).toBeTruthy();
    void u;
    const id = await userId(ana);
    await grantBesitos(t.app.db, { userId: id, amount: 10, source: 'admin', idempotencyKey: `bonus-e2e:${id}` });

    await t.post(textUpdate(ana, '/saldo'));
    expect(lastTo(t.telegram, 'sendMessage', ana, /Tienes/)!.payload.text).toMatch(/Tienes <b>50 besitos<\/b>[\s\S]*⏳ <b>40<\/b> besitos bonus caducan el /);
    await t.post(textUpdate(ana, '/perfil'));
    expect(lastTo(t.telegram, 'sendMessage', ana, /Besitos:/)!.payload.text).toMatch(/⏳ <b>40<\/b> besitos bonus caducan el /);

    // A purchase-like spend takes from the bonus first.
    await t.app.db.begin((tx) => import('../../lib/besitos/ledger.js').then((l) => l.spendBesitos(tx, { userId: id, amount: 15, source: 'shop', idempotencyKey: `bonus-e2e:spend:${id}` })));

    offset = 27 * DAY + 60_000;
    await t.app.scheduler.sweep();
    expect(lastTo(t.telegram, 'sendMessage', ana, /caducan/)!.payload.text).toMatch(/^⏳ Tienes <b>25 besitos bonus<\/b> que caducan el /);

    offset = 30 * DAY + 60_000;
    await t.app.scheduler.sweep();
    await t.app.scheduler.sweep();
    expect(t.telegram.sentTexts(ana).filter((x) => x.startsWith('⌛ Caducaron'))).toEqual([
      '⌛ Caducaron <b>25 besitos bonus</b> que no llegaste a usar. Tu saldo ahora: <b>10</b> besitos.',
    ]);
    await t.post(textUpdate(ana, '/saldo'));
    expect(lastTo(t.telegram, 'sendMessage', ana, /Tienes/)!.payload.text).not.toContain('caducan');
    expect(await ledgerMismatches(t.app.db, [id])).toEqual([]);
    offset = 0;
  });
});
