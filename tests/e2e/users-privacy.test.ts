import { afterAll, describe, expect, inject, it } from 'vitest';
import { Redis } from 'ioredis';
import { getBalance, grantBesitos } from '../../lib/besitos/ledger.js';
import { createMemoryStore } from '../../lib/kv/memory.js';
import { createRedisStore } from '../../lib/kv/redis.js';
import { callbackUpdate, startTestApp, textUpdate } from '../support/app.js';
import { createDb } from '../../lib/db/client.js';
import { isolatedDatabase } from '../support/bus.js';
import { uniqueTelegramId } from '../support/db.js';
import { ledgerMismatches } from '../support/ledger.js';
import { buttonsOf, cbAnswers, lastTo } from '../support/users.js';
import { sessionKey } from '../../lib/users/session.js';

// A database of its own: /exportar is delivered by the bus, and another file's in-process relay on a
// shared outbox could deliver it through that file's Bot API stub instead of this one.
const dbUrl = await isolatedDatabase();
const db = createDb(dbUrl, { max: 10 });
afterAll(() => db.end({ timeout: 5 }));
const redisUrl = inject('redisUrl');
const kv = redisUrl ? await createRedisStore(redisUrl) : createMemoryStore();
const raw = redisUrl ? new Redis(redisUrl) : null;
afterAll(async () => {
  await kv.close?.();
  raw?.disconnect();
});
const t = await startTestApp({ DATABASE_URL: dbUrl, RATE_LIMIT_MESSAGES: '1000', RATE_LIMIT_CALLBACKS: '1000' }, { kv });
const msg = t.app.bot.context.t!;

async function person(name: string, besitos = 0) {
  const tg = uniqueTelegramId();
  const username = `${name}_${tg}`.slice(0, 32);
  await t.post(textUpdate(tg, '/start', { firstName: name, username }));
  const [row] = await db<{ id: number }[]>`SELECT id FROM users WHERE telegram_id = ${tg}`;
  if (besitos) await grantBesitos(db, { userId: row!.id, amount: besitos, source: 'admin', idempotencyKey: `seed:${row!.id}` });
  return { tg, id: row!.id, username, name };
}

/** Every row of every table of the schema whose text mentions the value. */
async function tablesMentioning(value: string): Promise<Record<string, number>> {
  const tables = await db<{ table_name: string }[]>`
    SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`;
  const hits: Record<string, number> = {};
  for (const { table_name } of tables) {
    const [r] = await db.unsafe(`SELECT count(*)::int AS n FROM "${table_name}" t WHERE strpos(t::text, $1) > 0`, [value]);
    if (r!.n > 0) hits[table_name] = r!.n;
  }
  return hits;
}

function exportedJson(call: { payload: Record<string, any> } | undefined): any {
  const body = String(call?.payload._raw ?? '');
  const m = /filename="dianabot-\d{4}-\d{2}-\d{2}\.json"[\s\S]*?\r\n\r\n([\s\S]*?)\r\n--/.exec(body);
  if (!m) throw new Error('no JSON document in the sendDocument body');
  return JSON.parse(m[1]!);
}

const totals = async () =>
  (await db<{ besitos: number; n: number }[]>`SELECT COALESCE(sum(besitos), 0)::bigint AS besitos, (SELECT count(*)::int FROM transactions) AS n FROM user_balances`)[0]!;

describe('privacy through the webhook', () => {
  it('/privacidad explains what is stored, why and for how long', async () => {
    const p = await person('pia');
    await t.post(textUpdate(p.tg, '/privacidad'));
    const text = t.telegram.sentTexts(p.tg).at(-1)!;
    expect(text).toContain('Qué guardamos');
    expect(text).toContain('Cuánto tiempo');
    // What outlives /borrar, why and for how long.
    expect(text).toMatch(/seudónimo antifraude[\s\S]*regalo diario sea uno por persona[\s\S]*2 días/);
    // First-time rewards once per person: what is kept after /borrar and for how long (lib/users/retention.ts).
    expect(text).toMatch(/premios de primera vez[\s\S]*180 días/);
    expect(text).toContain('/exportar');
    expect(text).toContain('/borrar');
  });

  it('two concurrent updates writing different session fields both survive; /exportar; /borrar unlinks everything', async () => {
    const ana = await person('ana', 50);
    const beto = await person('beto');
    await t.post(textUpdate(ana.tg, '/daily', { firstName: 'ana', username: ana.username }));
    // Concurrent /regalar and /borrar: each writes its own field of the same (chat, user) session.
    t.telegram.reset();
    await Promise.all([
      t.post(textUpdate(ana.tg, `/regalar 10 @${beto.username}`, { firstName: 'ana', username: ana.username })),
      t.post(textUpdate(ana.tg, '/borrar', { firstName: 'ana', username: ana.username })),
    ]);
    const giftYes = buttonsOf(lastTo(t.telegram, 'sendMessage', ana.tg, /^¿Regalar/)).find((d) => d.startsWith('g:y:'))!;
    const eraseYes = buttonsOf(lastTo(t.telegram, 'sendMessage', ana.tg, /Borrar tus datos/)).find((d) => d.startsWith('pv:del:y:'))!;
    expect(giftYes).toBeDefined();
    expect(eraseYes).toBeDefined();
    const { created_at } = (await db<{ created_at: Date }[]>`SELECT created_at FROM users WHERE id = ${ana.id}`)[0]!;
    const session = JSON.parse((await kv.get(sessionKey({ id: ana.id, createdAt: created_at }, ana.tg)))!.split('|').slice(1).join('|'));
    expect(Object.keys(session).sort()).toEqual(['erase', 'gift']);
    await t.post(callbackUpdate(ana.tg, giftYes));
    expect((await getBalance(db, beto.id)).besitos).toBe(10);

    // /exportar: one JSON document with the profile, the ledger, the actions and the sessions.
    // Asynchronous: acknowledged at once, the document follows from the bus's commands subscriber.
    const docsBefore = t.telegram.callsOf('sendDocument').length;
    await t.post(textUpdate(ana.tg, '/exportar', { firstName: 'ana', username: ana.username }));
    expect(t.telegram.sentTexts(ana.tg).at(-1)).toBe(msg.exportPreparing());
    await t.app.bus.idle();
    expect(t.telegram.callsOf('sendDocument')).toHaveLength(docsBefore + 1);
    const doc = t.telegram.callsOf('sendDocument').at(-1);
    const data = exportedJson(doc);
    const ledger = await db<{ id: number }[]>`SELECT id FROM transactions WHERE user_id = ${ana.id} ORDER BY id`;
    expect(data.ledger.map((r: { id: number }) => r.id)).toEqual(ledger.map((r) => r.id));
    expect(data.ledger).toHaveLength(3); // seed grant, daily gift, gift to beto
    expect(data.profile).toMatchObject({ telegram_id: ana.tg, username: ana.username, first_name: 'ana' });
    expect(data.actions.map((a: { name: string }) => a.name)).toEqual(['daily', 'gift']);
    // Only ana's own data: the gift keeps its amount and ana's balance, not beto's id, balance or ledger row.
    const gift = data.actions.find((a: { name: string }) => a.name === 'gift');
    expect(gift.params).toEqual({ amount: expect.any(Number) });
    expect(Object.keys(gift.result).sort()).toEqual(['debitId', 'senderBalance']);
    expect(JSON.stringify(data)).not.toMatch(/receiverBalance|toUserId|creditId/);
    expect(Object.values(data.sessions as Record<string, Record<string, unknown>>).flatMap((s) => Object.keys(s))).toContain('erase');
    expect(data.balance.besitos).toBe((await getBalance(db, ana.id)).besitos);

    // /borrar, confirmed.
    const before = await totals();
    expect(await ledgerMismatches(db)).toEqual([]);
    expect(Object.keys(await tablesMentioning(String(ana.tg))).length).toBeGreaterThan(0); // the check can fail
    const confirm = callbackUpdate(ana.tg, eraseYes);
    t.telegram.failNext('editMessageText', 3, 502); // the confirmation reply fails: still acknowledged
    expect(await t.post(confirm)).toMatchObject({ status: 200 }); // the press's answer rides in the body
    // Telegram redelivers it anyway (a lost 200): it must not register the erased sender again.
    expect(await t.post(confirm)).toEqual({ status: 200, body: 'duplicate' });
    expect(await tablesMentioning(String(ana.tg))).toEqual({});
    expect(await tablesMentioning(ana.username)).toEqual({});
    if (raw) {
      const keys: string[] = [];
      let cursor = '0';
      do {
        const [next, batch] = await raw.scan(cursor, 'MATCH', `*${ana.tg}*`, 'COUNT', 1000);
        cursor = next;
        keys.push(...batch);
      } while (cursor !== '0');
      expect(keys).toEqual([]);
      expect((await raw.scan('0', 'MATCH', `daily:${ana.id}:*`, 'COUNT', 100000))[1]).toEqual([]);
    }
    expect(await totals()).toEqual(before);
    expect(await ledgerMismatches(db)).toEqual([]);
    // The unlinked account keeps its ledger, with nothing personal left on the user row.
    const [old] = await db`SELECT telegram_id, username, first_name, deleted_at FROM users WHERE id = ${ana.id}`;
    expect(old).toMatchObject({ telegram_id: null, username: null, first_name: null });
    // Writing again: a new user, from zero.
    await t.post(textUpdate(ana.tg, '/perfil', { firstName: 'ana' }));
    const [again] = await db<{ id: number }[]>`SELECT id FROM users WHERE telegram_id = ${ana.tg}`;
    expect(again!.id).not.toBe(ana.id);
    expect(t.telegram.sentTexts(ana.tg).at(-1)).toContain('Besitos: <b>0 besitos</b>');
    // beto still sees his gift, from an account with no name.
    expect((await getBalance(db, beto.id)).besitos).toBe(10);
  });

  it('/borrar cancelled or expired deletes nothing', async () => {
    const p = await person('leo', 5);
    await t.post(textUpdate(p.tg, '/borrar'));
    const no = buttonsOf(lastTo(t.telegram, 'sendMessage', p.tg, /Borrar tus datos/)).find((d) => d.startsWith('pv:del:n:'))!;
    await t.post(callbackUpdate(p.tg, no));
    expect(t.telegram.callsOf('editMessageText').at(-1)!.payload.text).toBe(msg.eraseCancelled());
    // A late "Sí" of the cancelled confirmation: a notice saying so (no new message), nothing erased.
    const sent = t.telegram.sentTexts(p.tg).length;
    await t.post(callbackUpdate(p.tg, no.replace(':n:', ':y:')));
    expect(t.telegram.sentTexts(p.tg)).toHaveLength(sent);
    expect(cbAnswers(t.telegram).at(-1)!.text).toBe(msg.keyboardEnded('cancelled', undefined, 'UTC', new Date()));
    const [row] = await db`SELECT telegram_id FROM users WHERE id = ${p.id}`;
    expect(row!.telegram_id).toBe(p.tg);
  });
});

describe('/exportar in a group', () => {
  it('sends the data file to the private chat only and tells the group so', async () => {
    const p = await person('gina');
    const update = textUpdate(p.tg, '/exportar', { firstName: 'gina', username: p.username });
    (update.message.chat as Record<string, unknown>) = { id: -100555, title: 'Grupo', type: 'supergroup' };
    const docsBefore = t.telegram.callsOf('sendDocument').length;
    expect((await t.post(update)).status).toBe(200);
    await t.app.bus.idle();
    const docs = t.telegram.callsOf('sendDocument').slice(docsBefore);
    expect(docs).toHaveLength(1);
    expect(String(docs[0]!.payload._raw)).toMatch(new RegExp(`name="chat_id"\\r\\n\\r\\n${p.tg}\\r\\n`));
    expect(t.telegram.sentTexts(-100555).at(-1)).toContain('por chat privado');
  });
});
