/**
 * The economy's safeguards through the webhook and the scheduler: /economia (summary + PNG chart
 * uploaded with sendPhoto), the hourly anomaly job and its notice to admins (once), alerts, and
 * /revertir — with non-admins refused and bad input answered in Spanish.
 */
import { describe, expect, it } from 'vitest';
import { setApp } from '../../lib/app.js';
import { schedule } from '../../lib/scheduler/index.js';
import economyHandler from '../../api/admin/economy.js';
import { simulateEconomy } from '../../lib/economy/simulate.js';
import { callbackUpdate, startTestApp, textUpdate } from '../support/app.js';
import { buttonsOf, cbAnswers, lastTo } from '../support/users.js';
import { uniqueTelegramId } from '../support/db.js';
import { drainJobs } from '../support/jobs.js';
import { ledgerMismatches, userWithBesitos } from '../support/ledger.js';
import { grantBesitos, spendBesitos, transferBesitos } from '../../lib/besitos/ledger.js';

const ADMIN = uniqueTelegramId();
const TZ = 'America/Mexico_City';
let offset = 0;
const clock = () => new Date(Date.now() + offset);
const API_TOKEN = 'panel-token-for-the-economy-tests-0123456789';
// The admin types many commands in a minute here: not what the rate limit is tested on.
const t = await startTestApp({ ADMIN_USER_IDS: String(ADMIN), BOT_TIMEZONE: TZ, ADMIN_API_TOKEN: API_TOKEN, RATE_LIMIT_MESSAGES: '200' }, { clock });
setApp(t.app);

/** Calls api/admin/economy.ts as Vercel would, collecting the response. */
async function panel(query: Record<string, string>, auth: string | null = `Bearer ${API_TOKEN}`, method = 'GET') {
  const out = { status: 0, headers: {} as Record<string, string>, body: undefined as unknown };
  const res = {
    setHeader: (k: string, v: string) => void (out.headers[k.toLowerCase()] = v),
    status(code: number) {
      out.status = code;
      return res;
    },
    send(body: unknown) {
      out.body = body;
      return res;
    },
  };
  await economyHandler({ method, headers: auth ? { authorization: auth } : {}, query } as never, res as never);
  return out;
}
const sim = await simulateEconomy(t.app.db, { users: 300, days: 10, now: clock(), timeZone: TZ, seed: 11, farmer: true });
const lastText = (chat: number) => t.telegram.sentTexts(chat).at(-1) ?? '';
const day = (d: number) => new Date(clock().getTime() + d * 86_400_000).toLocaleDateString('en-CA', { timeZone: TZ });
const say = async (from: number, text: string) => {
  const r = await t.post(textUpdate(from, text, { firstName: 'Admin' }));
  expect(r.status).toBe(200);
  return lastText(from);
};

describe('economy for admins', () => {
  it('non-admins are refused, in Spanish, and see nothing', async () => {
    const user = uniqueTelegramId();
    expect(await say(user, '/economia')).toBe('Ese comando es solo para administradores.');
    expect(await say(user, '/revertir trivia 2026-11-01 2026-11-02 porque sí')).toBe('Ese comando es solo para administradores.');
    expect(t.telegram.callsOf('sendPhoto').filter((c) => Number(c.payload.chat_id) === user)).toEqual([]);
  });

  it('/economia: money supply, per source and sink, top earners, and a PNG chart uploaded with sendPhoto', async () => {
    const text = await say(ADMIN, '/economia');
    expect(text).toContain('📊 <b>Economía');
    expect(text).toContain(`(30 días)`);
    expect(text).toMatch(/En circulación: <b>[\d,]+<\/b> besitos/);
    expect(text).toContain('• regalo diario:');
    expect(text).toContain('• trivia:');
    expect(text).toContain('• tienda:');
    expect(text).toMatch(/1\. @granja_\w+ \(#\d+\) — [\d,]+/);
    const photo = t.telegram.callsOf('sendPhoto').at(-1)!;
    expect(Number(photo.payload.chat_id)).toBe(ADMIN);
    expect(photo.payload.caption).toContain('Besitos ganados');
    const file = photo.payload.photo as { filename: string; type: string; size: number; bytes: Buffer };
    expect(file.filename).toBe('economia.png');
    expect(file.bytes.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a'); // PNG signature
    expect(file.size).toBeGreaterThan(10_000);
  });

  it('/economia with a bad number of days explains the usage', async () => {
    expect(await say(ADMIN, '/economia mucho')).toContain('Indica cuántos días quieres ver');
    expect(await say(ADMIN, '/economia 400')).toContain('Indica cuántos días quieres ver');
  });

  it('the hourly job flags the farmer, tells the admin once, and a second run adds nothing', async () => {
    const before = t.telegram.sentTexts(ADMIN).length;
    await drainJobs(t.app, () => (offset += 120_000));
    const notices = t.telegram.sentTexts(ADMIN).slice(before).filter((x) => x.includes('🚨 <b>Economía'));
    expect(notices).toHaveLength(1);
    expect(notices[0]).toContain('@granja_');
    expect(notices[0]).toContain('gana muy por encima del resto');
    expect(notices[0]).toContain('No se aplicó ninguna sanción');
    const flags = await t.app.db`SELECT user_id, kind, source FROM economy_flags ORDER BY id`;
    expect(new Set(flags.map((f) => Number(f.user_id)))).toEqual(new Set([sim.farmerId]));
    // another run (a later hour, or a retry): the same flags, no second notice
    await schedule(t.app.db, { kind: 'economy.anomalies', key: `economy.anomalies:again:${Date.now()}`, dueAt: clock(), payload: { adminTelegramIds: [ADMIN] } });
    await drainJobs(t.app, () => (offset += 120_000));
    expect(t.telegram.sentTexts(ADMIN).slice(before).filter((x) => x.includes('🚨 <b>Economía'))).toHaveLength(1);
    expect(await t.app.db`SELECT user_id, kind, source FROM economy_flags ORDER BY id`).toEqual(flags);
  });

  it('/economia alertas lists the open flags; cerrar closes one, once', async () => {
    const list = await say(ADMIN, '/economia alertas');
    expect(list).toContain('🚨 <b>Alertas abiertas: 2</b>');
    const [flag] = await t.app.db<{ id: number }[]>`SELECT id FROM economy_flags ORDER BY id LIMIT 1`;
    expect(await say(ADMIN, `/economia cerrar ${flag!.id}`)).toBe(`Listo: la alerta #${flag!.id} quedó cerrada.`);
    expect(await say(ADMIN, `/economia cerrar ${flag!.id}`)).toBe(`La alerta #${flag!.id} no existe o ya estaba cerrada.`);
    expect(await say(ADMIN, '/economia cerrar x')).toContain('Indica el número de la alerta');
    expect(await say(ADMIN, '/economia')).toContain('Alertas abiertas: <b>1</b>');
  });

  it('/revertir a window: a preview first (nothing moved), Sí reverses once even on a double tap; asked again, nothing more', async () => {
    const balanceOf = async (id: number) => Number((await t.app.db<{ besitos: number }[]>`SELECT besitos FROM user_balances WHERE user_id = ${id}`)[0]!.besitos);
    const reversals = async () => (await t.app.db<{ n: number }[]>`SELECT count(*)::int AS n FROM transactions WHERE type = 'reversal' AND source LIKE 'trivia%'`)[0]!.n;
    const before = await balanceOf(sim.farmerId!);
    const cmd = `/revertir trivia ${day(-11)} ${day(0)} granja de trivia`;
    const preview = await say(ADMIN, cmd);
    expect(preview).toContain(`¿Revertir «trivia» del ${day(-11)} al ${day(0)}?`);
    const m = /Se revertirían <b>([\d,]+)<\/b> concesiones de <b>([\d,]+)<\/b> usuarios: ([\d,]+) besitos\./.exec(preview);
    expect(m, preview).toBeTruthy();
    expect(preview).toMatch(/Se recuperarían <b>[\d,]+<\/b> besitos\./);
    expect(preview).toContain('Motivo: «granja de trivia»');
    expect(await balanceOf(sim.farmerId!)).toBe(before);
    expect(await reversals()).toBe(0);
    const yes = buttonsOf(lastTo(t.telegram, 'sendMessage', ADMIN, /¿Revertir/)).find((d) => d.startsWith('rvy:'))!;
    expect(yes).toBeTruthy();

    // Someone who is not an admin presses the admin's button: refused, nothing moves.
    const intruder = uniqueTelegramId();
    await t.post(textUpdate(intruder, '/start'));
    await t.post(callbackUpdate(intruder, yes));
    expect(cbAnswers(t.telegram).at(-1)?.text).toBe('Ese comando es solo para administradores.');
    expect(await reversals()).toBe(0);

    // A double tap: two presses at once, one rollback.
    const presses = await Promise.all([t.post(callbackUpdate(ADMIN, yes)), t.post(callbackUpdate(ADMIN, yes))]);
    expect(presses.map((r) => r.status)).toEqual([200, 200]);
    const done = String(lastTo(t.telegram, 'editMessageText', ADMIN, /Reversión hecha/)?.payload.text ?? '');
    // Nobody spent in between: the rollback did what the preview said.
    const recover = /Se recuperarían <b>([\d,]+)<\/b> besitos\./.exec(preview)![1];
    expect(done).toContain(`Recuperados: <b>${recover}</b> de ${m![3]} besitos.`);
    expect(await reversals()).toBeGreaterThan(0);
    expect(await reversals()).toBeLessThanOrEqual(Number(m![1]!.replace(/,/g, '')));
    const [actions] = await t.app.db<{ n: number }[]>`
      SELECT count(*)::int AS n FROM actions a JOIN users u ON u.id = a.user_id WHERE u.telegram_id = ${ADMIN} AND a.name = 'economy.rollback' AND a.status = 'done'`;
    expect(actions!.n).toBe(1);
    expect(await balanceOf(sim.farmerId!)).toBeLessThan(before);
    // A late third press: told it is done, nothing more.
    const count = await reversals();
    await t.post(callbackUpdate(ADMIN, yes));
    expect(await reversals()).toBe(count);
    expect(await say(ADMIN, cmd)).toContain('Nada que hacer');
    expect(await ledgerMismatches(t.app.db, sim.userIds)).toEqual([]);
  });

  it('/revertir a window: Cancelar moves nothing, and a preview past its 5 minutes cannot be confirmed', async () => {
    const u = sim.userIds[5]!;
    const [g] = await t.app.db<{ id: number }[]>`
      INSERT INTO transactions (user_id, amount, type, source, balance_after, idempotency_key)
      SELECT ${u}, 7, 'grant', 'story', besitos + 7, ${`bug:story:${u}:${Date.now()}`} FROM user_balances WHERE user_id = ${u} RETURNING id`;
    await t.app.db`UPDATE user_balances SET besitos = besitos + 7, lifetime_besitos = lifetime_besitos + 7 WHERE user_id = ${u}`;
    const cmd = `/revertir story ${day(0)} ${day(0)} historia duplicada`;
    const reversed = async () => (await t.app.db<{ n: number }[]>`SELECT count(*)::int AS n FROM transactions WHERE reverses = ${g!.id}`)[0]!.n;

    expect(await say(ADMIN, cmd)).toContain('¿Revertir «story»');
    const no = buttonsOf(lastTo(t.telegram, 'sendMessage', ADMIN, /¿Revertir «story»/)).find((d) => d.startsWith('rvn:'))!;
    await t.post(callbackUpdate(ADMIN, no));
    expect(lastTo(t.telegram, 'editMessageText', ADMIN)?.payload.text).toBe(`Reversión cancelada («story» del ${day(0)} al ${day(0)}). No se tocó ningún saldo.`);
    expect(await reversed()).toBe(0);

    expect(await say(ADMIN, cmd)).toContain('¿Revertir «story»');
    const yes = buttonsOf(lastTo(t.telegram, 'sendMessage', ADMIN, /¿Revertir «story»/)).find((d) => d.startsWith('rvy:'))!;
    offset += 6 * 60_000;
    try {
      await t.post(callbackUpdate(ADMIN, yes));
      expect(cbAnswers(t.telegram).at(-1)?.text).toMatch(/caduc/i);
      expect(await reversed()).toBe(0);
    } finally {
      offset -= 6 * 60_000;
    }
    expect(await ledgerMismatches(t.app.db, [u])).toEqual([]);
  });

  it('/revertir: a window with nothing, an unknown movement, a missing reason, a bad period', async () => {
    expect(await say(ADMIN, '/revertir trivia 2020-01-01 2020-01-02 nada por aquí')).toBe('No hay nada que revertir: «trivia» del 2020-01-01 al 2020-01-02 no tiene concesiones.');
    expect(await say(ADMIN, '/revertir 987654321 no existe')).toBe('No existe el movimiento #987654321.');
    expect(await say(ADMIN, '/revertir 5')).toContain('Escribe también el motivo');
    expect(await say(ADMIN, '/revertir trivia 2026-13-01 2026-11-02 motivo')).toContain('No entendí el periodo');
    expect(await say(ADMIN, '/revertir trivia 2026-11-05 2026-11-01 motivo')).toContain('No entendí el periodo');
    expect(await say(ADMIN, '/revertir')).toContain('/revertir &lt;fuente&gt;');
  });

  it('the admin rollback is in the audit trail (the admin’s action, with the reason); a preview or a cancel writes none', async () => {
    const rows = await t.app.db`SELECT a.params, a.status FROM actions a JOIN users u ON u.id = a.user_id WHERE u.telegram_id = ${ADMIN} AND a.name = 'economy.rollback'`;
    expect(rows).toHaveLength(1);
    expect(rows.map((r) => (r.params as { reason: string }).reason)).toContain('granja de trivia');
  });

  it('/revertir one movement: a preview (who, how much, what cannot be taken back) first; Cancelar moves nothing; Sí once on a double tap; asked again, nothing more', async () => {
    const u = await userWithBesitos(t.app.db);
    const g = await grantBesitos(t.app.db, { userId: u, amount: 30, source: 'admin', idempotencyKey: `t:grant:${u}` });
    await spendBesitos(t.app.db, { userId: u, amount: 10, source: 'shop', idempotencyKey: `t:spend:${u}` });
    const id = g.entry.id;
    const reversed = async () => (await t.app.db<{ n: number }[]>`SELECT count(*)::int AS n FROM transactions WHERE reverses = ${id}`)[0]!.n;
    const balance = async () => Number((await t.app.db<{ besitos: number }[]>`SELECT besitos FROM user_balances WHERE user_id = ${u}`)[0]!.besitos);
    const cmd = `/revertir ${id} concesión por error`;

    const preview = await say(ADMIN, cmd);
    expect(preview).toContain(`¿Revertir el movimiento #${id}?`);
    expect(preview).toContain('Es una concesión de «administración».');
    expect(preview).toContain(`• A Prueba (#${u}) se le quitarían <b>20</b> de 30 besitos.`);
    expect(preview).toContain('No se podrían recuperar <b>10</b> (ya gastados');
    expect(preview).toContain('Motivo: «concesión por error»');
    expect(await reversed()).toBe(0);
    expect(await balance()).toBe(20);

    const no = buttonsOf(lastTo(t.telegram, 'sendMessage', ADMIN, /¿Revertir el movimiento/)).find((d) => d.startsWith('rvn:'))!;
    await t.post(callbackUpdate(ADMIN, no));
    expect(lastTo(t.telegram, 'editMessageText', ADMIN)?.payload.text).toBe(`Reversión cancelada (movimiento #${id}). No se tocó ningún saldo.`);
    expect(await reversed()).toBe(0);

    expect(await say(ADMIN, cmd)).toContain(`¿Revertir el movimiento #${id}?`);
    const yes = buttonsOf(lastTo(t.telegram, 'sendMessage', ADMIN, /¿Revertir el movimiento/)).find((d) => d.startsWith('rvy:'))!;
    const presses = await Promise.all([t.post(callbackUpdate(ADMIN, yes)), t.post(callbackUpdate(ADMIN, yes))]);
    expect(presses.map((r) => r.status)).toEqual([200, 200]);
    const done = String(lastTo(t.telegram, 'editMessageText', ADMIN, /Reversión hecha/)?.payload.text ?? '');
    expect(done).toContain(`(movimiento #${id})`);
    expect(done).toContain('Recuperados: <b>20</b> de 30 besitos.');
    expect(done).toContain(`• Prueba (#${u}): faltaron 10 de 30`);
    expect(await reversed()).toBe(1);
    expect(await balance()).toBe(0);
    await t.post(callbackUpdate(ADMIN, yes));
    expect(await reversed()).toBe(1);
    expect(await say(ADMIN, cmd)).toBe('Nada que hacer: ese movimiento ya se había revertido. No se tocó ningún saldo.');
    expect(await ledgerMismatches(t.app.db, [u])).toEqual([]);
  });

  it('/revertir one spend gives it back whole; a gift goes back from the receiver to the giver, or is refused at once if the receiver spent it', async () => {
    const [a, b] = [await userWithBesitos(t.app.db, 40), await userWithBesitos(t.app.db)];
    const spend = await spendBesitos(t.app.db, { userId: a, amount: 15, source: 'shop', idempotencyKey: `t:spend:${a}` });
    const p1 = await say(ADMIN, `/revertir ${spend.entry.id} cobro doble`);
    expect(p1).toContain('Es un gasto de «tienda».');
    expect(p1).toContain(`• A Prueba (#${a}) se le devolverían <b>15</b> besitos.`);
    const yes1 = buttonsOf(lastTo(t.telegram, 'sendMessage', ADMIN, /¿Revertir el movimiento/)).find((d) => d.startsWith('rvy:'))!;
    await t.post(callbackUpdate(ADMIN, yes1));
    expect(String(lastTo(t.telegram, 'editMessageText', ADMIN)?.payload.text)).toContain('Recuperados: <b>15</b> de 15 besitos.');

    const gift = await transferBesitos(t.app.db, { fromUserId: a, toUserId: b, amount: 10, source: 'gift', idempotencyKey: `t:gift:${a}` });
    await spendBesitos(t.app.db, { userId: b, amount: 5, source: 'shop', idempotencyKey: `t:spend:${b}` });
    const before = t.telegram.callsOf('sendMessage').length;
    const refused = await say(ADMIN, `/revertir ${gift.debit.id} regalo indebido`);
    expect(refused).toContain('Es un regalo de «regalos entre usuarios».');
    expect(refused).toContain(`• A Prueba (#${a}) se le devolverían <b>10</b> besitos.`);
    expect(refused).toContain(`• A Prueba (#${b}) se le quitarían <b>10</b> de 10 besitos.`);
    expect(refused).toContain('⛔ Ahora no se puede revertir');
    expect(buttonsOf(t.telegram.callsOf('sendMessage').slice(before).at(-1))).toEqual([]);

    await grantBesitos(t.app.db, { userId: b, amount: 5, source: 'admin', idempotencyKey: `t:grant:${b}` });
    expect(await say(ADMIN, `/revertir ${gift.credit.id} regalo indebido`)).not.toContain('⛔');
    const yes2 = buttonsOf(lastTo(t.telegram, 'sendMessage', ADMIN, /¿Revertir el movimiento/)).find((d) => d.startsWith('rvy:'))!;
    await t.post(callbackUpdate(ADMIN, yes2));
    expect(String(lastTo(t.telegram, 'editMessageText', ADMIN)?.payload.text)).toContain('Reversión hecha');
    const balances = await t.app.db<{ user_id: number; besitos: number }[]>`SELECT user_id, besitos FROM user_balances WHERE user_id IN (${a}, ${b}) ORDER BY user_id`;
    expect(balances.map((r) => Number(r.besitos))).toEqual([40, 0]);
    expect(await say(ADMIN, `/revertir ${gift.debit.id} otra vez`)).toContain('Nada que hacer');
    expect(await ledgerMismatches(t.app.db, [a, b])).toEqual([]);
  });

  it('the admin panel gets the same data as JSON (and the chart as PNG), only with the token', async () => {
    expect((await panel({}, null)).status).toBe(401);
    expect((await panel({}, 'Bearer wrong-token-of-the-same-kind-0123456789')).status).toBe(401);
    expect((await panel({}, `Bearer ${API_TOKEN}`, 'POST')).status).toBe(405);
    const bad = await panel({ days: 'diez' });
    expect(bad.status).toBe(400);
    expect(JSON.parse(String(bad.body)).error).toBe('bad_days');
    const ok = await panel({ days: '10' });
    expect(ok.status).toBe(200);
    expect(ok.headers['content-type']).toContain('application/json');
    const d = JSON.parse(String(ok.body));
    expect(d.days).toHaveLength(10);
    expect(d.supply.now).toBeGreaterThan(0);
    expect(d.supply.endOfDay.at(-1)).toBe(d.supply.now);
    expect(d.earned.map((s: { source: string }) => s.source)).toEqual(expect.arrayContaining(['daily', 'trivia', 'mission', 'story']));
    expect(d.topEarners[0].label).toMatch(/^@granja_/);
    expect(d.flags.open).toBeGreaterThanOrEqual(1);
    const png = await panel({ days: '10', format: 'png' });
    expect(png.headers['content-type']).toBe('image/png');
    expect((png.body as Buffer).subarray(0, 4).toString('hex')).toBe('89504e47');
  });
});
