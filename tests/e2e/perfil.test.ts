import { afterAll, describe, expect, inject, it } from 'vitest';
import { grantBesitos } from '../../lib/besitos/ledger.js';
import { boardKey, builtMarker, weekOf } from '../../lib/gamification/rules-ranking.js';
import { createMemoryStore } from '../../lib/kv/memory.js';
import { createRedisStore } from '../../lib/kv/redis.js';
import { prefixedStore } from '../fault/kv-prefix.js';
import { callbackUpdate, startTestApp, textUpdate } from '../support/app.js';
import { uniqueTelegramId } from '../support/db.js';
import { buttonsOf, lastTo } from '../support/users.js';

/**
 * /perfil through the webhook on real Postgres and Redis: a headed section per feature, the ranking
 * section's places (and «Anónimo»), a flushed store rebuilt, the store down, Telegram's length limit;
 * /exportar carries the invitations and the ranking, /borrar leaves neither behind.
 */
const redisUrl = inject('redisUrl');
const base = redisUrl ? await createRedisStore(redisUrl) : createMemoryStore();
const down = await createRedisStore('redis://127.0.0.1:1');
afterAll(async () => {
  await base.close?.();
  await down.close?.();
});
const kv = prefixedStore(base, `perfil-${process.pid}-${Date.now()}:`);
const t = await startTestApp({ RATE_LIMIT_MESSAGES: '1000', RATE_LIMIT_CALLBACKS: '1000' }, { kv });
const broken = await startTestApp({}, { kv: down });
const db = t.app.db;

const settle = () => t.settle({ rounds: 4 });

let n = 0;
async function person(opts: { besitos?: number; start?: string; firstName?: string } = {}) {
  const tg = uniqueTelegramId();
  const firstName = opts.firstName ?? `Pf${++n}`;
  await t.post(textUpdate(tg, opts.start ? `/start ${opts.start}` : '/start', { firstName }));
  const [row] = await db<{ id: number }[]>`SELECT id FROM users WHERE telegram_id = ${tg}`;
  const id = Number(row!.id);
  if (opts.besitos) await grantBesitos(db, { userId: id, amount: opts.besitos, source: 'admin', idempotencyKey: `perfil-e2e:${id}` });
  return { tg, id, firstName };
}
type Person = Awaited<ReturnType<typeof person>>;

async function profileOf(p: Person, app = t): Promise<string> {
  await app.post(textUpdate(p.tg, '/perfil', { firstName: p.firstName }));
  return String(lastTo(app.telegram, 'sendMessage', p.tg, /Miembro desde/)!.payload.text);
}

const section = (profile: string, title: string) => {
  const m = new RegExp(`<b>${title}</b>\\n([\\s\\S]*?)(?:\\n\\n|$)`).exec(profile);
  return m?.[1] ?? null;
};

describe('/perfil', () => {
  it('the ranking section: weekly and all-time place, «Anónimo» when chosen, no place before earning; a flushed store is rebuilt', async () => {
    const leader = await person({ besitos: 300 });
    const second = await person({ besitos: 200 });
    const newcomer = await person();
    await settle();

    expect(section(await profileOf(leader), '🏆 Ranking')).toBe(
      `Esta semana: puesto <b>1</b> con <b>300</b> besitos\nDe siempre: puesto <b>1</b> con <b>300</b> besitos\nApareces como <b>${leader.firstName}</b> · /ranking`,
    );
    expect(section(await profileOf(second), '🏆 Ranking')).toMatch(/^Esta semana: puesto <b>2<\/b> con <b>200<\/b> besitos\nDe siempre: puesto <b>2<\/b> con <b>200<\/b> besitos/);
    expect(section(await profileOf(newcomer), '🏆 Ranking')).toMatch(
      /^Esta semana: aún sin puesto \(gana besitos para entrar\)\nDe siempre: aún sin puesto \(gana besitos para entrar\)/,
    );

    // The «Anónimo» button of /ranking: /perfil says how the ranking shows you.
    await t.post(callbackUpdate(second.tg, 'rk:n:1:w'));
    expect(section(await profileOf(second), '🏆 Ranking')).toContain('Apareces como <b>Anónimo</b> · /ranking');

    // Redis flushed: /perfil builds the boards again from Postgres and shows the same places.
    for (const b of ['all', 'week'] as const) {
      const key = boardKey(b, weekOf(new Date(), t.app.config.timeZone));
      await kv.del(key, builtMarker(key));
    }
    expect(section(await profileOf(second), '🏆 Ranking')).toMatch(/^Esta semana: puesto <b>2<\/b> con <b>200<\/b> besitos\nDe siempre: puesto <b>2<\/b> con <b>200<\/b>/);
  });

  it('every section headed, once, in order; the invitation button; within 4,096 characters with the longest name and a bonus that expires', async () => {
    const longName = '&<>'.repeat(30); // escaped: 4× longer in HTML
    const p = await person({ besitos: 40, firstName: longName });
    await grantBesitos(db, { userId: p.id, amount: 25, source: 'admin', bonus: true, idempotencyKey: `perfil-bonus:${p.id}` });
    await settle();
    await t.post(textUpdate(p.tg, '/perfil', { firstName: longName }));
    const msg = lastTo(t.telegram, 'sendMessage', p.tg, /Miembro desde/)!;
    const text = String(msg.payload.text);
    expect(text.length).toBeLessThanOrEqual(4096);
    expect([...text.matchAll(/^<b>(.+?)<\/b>$/gm)].map((m) => m[1])).toEqual(['💰 Besitos', '🎯 Misiones', '🏅 Logros', '🎒 Mochila', '🤝 Invitaciones', '🏆 Ranking']);
    expect(section(text, '💰 Besitos')).toMatch(/^Besitos: <b>65 besitos<\/b>\n🏆 Ganados en total: 65 besitos\n🔥 Racha diaria: sin racha \(reclama \/regalo\)\n⏳ <b>25<\/b> besitos bonus caducan /);
    expect(section(text, '🎒 Mochila')).toBe('Tu mochila está vacía: mira la /tienda.');
    expect(text).not.toContain('<>'); // the name is escaped
    expect(buttonsOf(msg)).toEqual(['act:0', 'hist:0', 'pv:info', 'pf:gift', 'ref:share']);
  });

  it('with the key-value store down: every other section, and the ranking section says where to look', async () => {
    const tg = uniqueTelegramId();
    await broken.post(textUpdate(tg, '/start', { firstName: 'Caída' }));
    const res = await broken.post(textUpdate(tg, '/perfil', { firstName: 'Caída' }));
    expect(res.status).toBe(200);
    const text = broken.telegram.sentTexts(tg).at(-1)!;
    expect(section(text, '🏆 Ranking')).toBe('El marcador no está disponible ahora mismo: míralo en /ranking.');
    for (const title of ['💰 Besitos', '🎯 Misiones', '🏅 Logros', '🎒 Mochila', '🤝 Invitaciones']) expect(section(text, title)).not.toBeNull();
  });

  it('/exportar carries the invitations (own side only) and the ranking; after /borrar neither the code nor the boards keep the person', async () => {
    const ana = await person({ besitos: 5_000 });
    await t.post(textUpdate(ana.tg, '/invitar', { firstName: ana.firstName }));
    const code = (await db<{ code: string }[]>`SELECT code FROM referral_codes WHERE user_id = ${ana.id}`)[0]!.code;
    const bea = await person({ start: `ref_${code}` });
    await t.post(textUpdate(bea.tg, '/regalo', { firstName: bea.firstName }));
    await settle();
    await t.post(callbackUpdate(ana.tg, 'rk:n:1:a'));

    const docsBefore = t.telegram.callsOf('sendDocument').length;
    await t.post(textUpdate(ana.tg, '/exportar', { firstName: ana.firstName }));
    await settle();
    expect(t.telegram.callsOf('sendDocument')).toHaveLength(docsBefore + 1);
    const data = exportedJson(t.telegram.callsOf('sendDocument').at(-1));
    expect(data.referrals).toMatchObject({ code, invited_by_someone: null, invitations: [{ status: 'rewarded' }] });
    const lifetime = (await db<{ lifetime: string }[]>`SELECT lifetime_besitos AS lifetime FROM user_balances WHERE user_id = ${ana.id}`)[0]!.lifetime;
    expect(data.ranking).toEqual({ shown_as_anonymous: true, all_time_besitos: Number(lifetime), all_time_position: 1 });
    expect(JSON.stringify(data)).not.toContain(`"${bea.id}"`);
    expect(JSON.stringify(data.referrals)).not.toMatch(new RegExp(`\\b${bea.id}\\b`));

    await t.post(textUpdate(ana.tg, '/borrar'));
    const yes = buttonsOf(lastTo(t.telegram, 'sendMessage', ana.tg, /Borrar tus datos/)).find((d) => d.startsWith('pv:del:y:'))!;
    await t.post(callbackUpdate(ana.tg, yes));
    expect(await db`SELECT 1 FROM referral_codes WHERE user_id = ${ana.id}`).toHaveLength(0);
    for (const b of ['all', 'week'] as const) expect(await kv.zscore(boardKey(b, weekOf(new Date(), t.app.config.timeZone)), String(ana.id))).toBeNull();
    // /ranking no longer shows her score.
    await t.post(textUpdate(bea.tg, '/ranking'));
    expect(String(lastTo(t.telegram, 'sendMessage', bea.tg, /Ranking semanal/)!.payload.text)).not.toContain(Number(lifetime).toLocaleString('es-MX'));
  });
});

function exportedJson(call: { payload: Record<string, any> } | undefined): any {
  const body = String(call?.payload._raw ?? '');
  const m = /filename="dianabot-\d{4}-\d{2}-\d{2}\.json"[\s\S]*?\r\n\r\n([\s\S]*?)\r\n--/.exec(body);
  if (!m) throw new Error('no JSON document in the sendDocument body');
  return JSON.parse(m[1]!);
}
