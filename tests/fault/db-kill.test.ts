/**
 * Fault: the Postgres connection is killed (pg_terminate_backend) in the middle of a money
 * transaction. Each test stops the transaction at a known point — after its balance UPDATEs,
 * before its ledger INSERT — by holding, in another session, an uncommitted row with the same
 * idempotency key (or a row lock), then terminates the backend. Expected: no partial effect, and the
 * retried operation / redelivered update applies exactly once.
 */
import { describe, expect, it } from 'vitest';
import { getBalance, spendBesitos, transferBesitos } from '../../lib/besitos/ledger.js';
import { createDb } from '../../lib/db/client.js';
import { isTransientDbError } from '../../lib/db/errors.js';
import { localDate } from '../../lib/time/zone.js';
import { callbackUpdate, textUpdate } from '../support/app.js';
import { uniqueTelegramId } from '../support/db.js';
import { ledgerMismatches, userWithBesitos } from '../support/ledger.js';
import { buttonsOf, lastTo } from '../support/users.js';
import { afterAll } from 'vitest';
import { cachedStoryContent } from '../../lib/narrative/index.js';
import { fixtureIndex } from '../support/story-fixture.js';
import {
  appName,
  balanceOfTelegram,
  blockedBackend,
  faultApp,
  holdOpen,
  postgresDriverGuarded,
  taggedUrl,
  terminate,
  useAdminDb,
  userIdOf,
} from './support.js';
import { skipped } from '../support/skips.js';

// See postgresDriverGuarded(): with the unpatched driver every kill below also crashes the process.
const runKills = postgresDriverGuarded() || process.env.FAULT_FORCE_KILL === '1';
if (!runKills) {
  console.warn(
    '[fault] SKIPPED the pg_terminate_backend tests: postgres.js 3.4.9 crashes the process on a terminated backend ' +
      '(uncaught TypeError in nextWrite, porsager/postgres#1208). Run npm ci (it applies patches/postgres+3.4.9.patch), or FAULT_FORCE_KILL=1 to see the crash.',
  );
}

const admin = useAdminDb();
const ledgerName = appName('ledger');
const db = createDb(taggedUrl(ledgerName), { max: 4 });
const blocker = createDb(taggedUrl(appName('blocker')), { max: 2 });
afterAll(async () => {
  await db.end({ timeout: 5 });
  await blocker.end({ timeout: 5 });
});

/** Holds an uncommitted ledger row with `key`: a writer using that key waits at its INSERT. */
const holdKey = (userId: number, key: string) =>
  holdOpen(blocker, (tx) => tx`
    INSERT INTO transactions (user_id, amount, type, source, balance_after, idempotency_key)
    VALUES (${userId}, 1, 'grant', 'admin', 1, ${key})`);

const ledgerRows = async (keyPrefix: string) =>
  (await admin<{ n: number }[]>`SELECT count(*)::int AS n FROM transactions WHERE idempotency_key LIKE ${keyPrefix + '%'}`)[0]!.n;

describe.skipIf(skipped('fault: Postgres backends terminated (db-kill)', !runKills, 'the postgres.js patch is not applied (run npm ci), FAULT_FORCE_KILL=1 shows the crash'))('fault: Postgres backend terminated mid-transaction (ledger)', () => {
  it('spend killed after its balance UPDATE, before its ledger INSERT → nothing moved; the retry applies once', async () => {
    const u = await userWithBesitos(admin, 100);
    const key = `fault:spend:${u}`;
    const hold = await holdKey(u, key);
    const spend = spendBesitos(db, { userId: u, amount: 30, source: 'shop', idempotencyKey: key }).then(
      () => null,
      (err) => err,
    );
    await terminate(admin, await blockedBackend(admin, ledgerName, '%WITH existing AS%'));
    await hold.rollback();
    const err = await spend;
    expect(isTransientDbError(err)).toBe(true); // 57P01 / connection closed: the caller may retry
    expect((await getBalance(admin, u)).besitos).toBe(100);
    expect(await ledgerRows(key)).toBe(0);

    const first = await spendBesitos(db, { userId: u, amount: 30, source: 'shop', idempotencyKey: key });
    const again = await spendBesitos(db, { userId: u, amount: 30, source: 'shop', idempotencyKey: key });
    expect(first.replayed).toBe(false);
    expect(again.replayed).toBe(true);
    expect((await getBalance(admin, u)).besitos).toBe(70);
    expect(await ledgerRows(key)).toBe(1);
    expect(await ledgerMismatches(admin, [u])).toEqual([]);
  });

  it('transfer killed after debit and credit UPDATEs, before the legs are written → neither side moved; the retry applies once', async () => {
    const from = await userWithBesitos(admin, 50);
    const to = await userWithBesitos(admin, 5);
    const key = `fault:transfer:${from}`;
    const hold = await holdKey(from, `${key}:out`);
    const transfer = transferBesitos(db, { fromUserId: from, toUserId: to, amount: 20, source: 'gift', idempotencyKey: key }).then(
      () => null,
      (err) => err,
    );
    await terminate(admin, await blockedBackend(admin, ledgerName, '%INSERT INTO transactions%'));
    await hold.rollback();
    expect(isTransientDbError(await transfer)).toBe(true);
    expect((await getBalance(admin, from)).besitos).toBe(50);
    expect((await getBalance(admin, to)).besitos).toBe(5);
    expect(await ledgerRows(key)).toBe(0);

    await transferBesitos(db, { fromUserId: from, toUserId: to, amount: 20, source: 'gift', idempotencyKey: key });
    const replay = await transferBesitos(db, { fromUserId: from, toUserId: to, amount: 20, source: 'gift', idempotencyKey: key });
    expect(replay.replayed).toBe(true);
    expect((await getBalance(admin, from)).besitos).toBe(30);
    expect((await getBalance(admin, to)).besitos).toBe(25);
    expect(await ledgerRows(key)).toBe(2);
    expect(await ledgerMismatches(admin, [from, to])).toEqual([]);
  });
});

describe.skipIf(!runKills)('fault: Postgres backend terminated mid-decision (story, through the webhook)', async () => {
  const name = appName('story');
  const t = await faultApp(name, { WEBHOOK_MAX_ATTEMPTS: '5' }, { story: cachedStoryContent(async () => fixtureIndex()) });

  it('a decision killed after its action row and balance UPDATE, before its ledger row → 503, no reward, no progress; the redelivery applies once', async () => {
    const tg = uniqueTelegramId();
    await t.post(textUpdate(tg, '/historia'));
    await t.post(callbackUpdate(tg, buttonsOf(lastTo(t.telegram, 'sendMessage', tg))[0]!)); // Continuar → the decision
    const uid = await userIdOf(admin, tg);
    const jardin = buttonsOf(lastTo(t.telegram, 'sendMessage', tg))[0]!;
    const progress = () => admin`SELECT current_fragment, step, state FROM user_narrative_progress WHERE user_id = ${uid}`;
    const before = await progress();
    const events = () => admin`SELECT type FROM outbox WHERE user_id = ${uid} AND type LIKE 'narrative.%' ORDER BY id`;
    const eventsBefore = await events();
    const hold = await holdKey(uid, `story:${uid}:decision:b/jardin`);
    const press = callbackUpdate(tg, jardin);
    const res = t.post(press);
    await terminate(admin, await blockedBackend(admin, name, '%WITH existing AS%'));
    await hold.rollback();
    expect((await res).status).toBe(503);
    expect(await balanceOfTelegram(admin, tg)).toBe(5); // fragment a's reward only
    expect(await progress()).toEqual(before);
    expect(await events()).toEqual(eventsBefore);
    expect(await admin`SELECT 1 FROM actions WHERE idempotency_key = ${`update:${press.update_id}:story`}`).toHaveLength(0);

    expect((await t.post(press)).status).toBe(200);
    expect((await t.post(press)).status).toBe(200); // duplicate delivery
    expect((await t.post(callbackUpdate(tg, jardin))).status).toBe(200); // a second tap
    expect(await balanceOfTelegram(admin, tg)).toBe(8);
    expect(await ledgerRows(`story:${uid}:decision:`)).toBe(1);
    expect((await progress())[0]).toMatchObject({ current_fragment: 'c' });
    expect((await events()).filter((e) => e.type === 'narrative.decision_made')).toHaveLength(1);
    expect(t.telegram.sentTexts(tg).filter((x) => /brilla de noche/.test(x))).toHaveLength(1);
    expect(await ledgerMismatches(admin, [uid])).toEqual([]);
  });
});

describe.skipIf(!runKills)('fault: Postgres backend terminated mid-transaction (through the webhook)', async () => {
  const name = appName('webhook');
  const t = await faultApp(name, { WEBHOOK_MAX_ATTEMPTS: '5' });

  it('/daily killed inside its statement (issue 18: one statement with its action and claim rows) → 503, nothing granted, nothing half-written; Telegram’s redelivery grants once', async () => {
    const tg = uniqueTelegramId();
    await t.post(textUpdate(tg, '/start'));
    const uid = await userIdOf(admin, tg);
    const day = localDate(t.app.clock(), t.app.config.timeZone);
    const hold = await holdKey(uid, `daily:${uid}:${day}`);
    const update = textUpdate(tg, '/daily');
    const res = t.post(update);
    await terminate(admin, await blockedBackend(admin, name, '%WITH existing AS%'));
    await hold.rollback();
    expect((await res).status).toBe(503);
    expect(await balanceOfTelegram(admin, tg)).toBe(0);
    // Issue 18: the grant is one statement with its action row and claim row: none of them is left half-done.
    const [left] = await admin<{ actions: number; claims: number; caps: number }[]>`
      SELECT (SELECT count(*)::int FROM actions WHERE user_id = ${uid}) AS actions,
             (SELECT count(*)::int FROM daily_claims WHERE user_id = ${uid}) AS claims,
             (SELECT count(*)::int FROM besitos_caps c JOIN users u ON c.subject = u.person WHERE u.id = ${uid}) AS caps`;
    expect(left).toEqual({ actions: 0, claims: 0, caps: 0 });
    const [inbox] = await admin<{ status: string }[]>`SELECT status FROM telegram_updates WHERE update_id = ${update.update_id}`;
    expect(inbox?.status).toBe('retry');

    expect((await t.post(update)).status).toBe(200);
    expect((await t.post(update)).status).toBe(200); // duplicate
    expect((await t.post(textUpdate(tg, '/daily'))).status).toBe(200); // another /daily the same day
    expect(await balanceOfTelegram(admin, tg)).toBe(10);
    expect(await ledgerRows(`daily:${uid}:`)).toBe(1);
    expect(t.telegram.sentTexts(tg).filter((x) => /Recibiste/.test(x))).toHaveLength(1);
  });

  it('/regalar confirmation killed between the balance UPDATEs and the ledger legs → 503, nothing moved; the redelivered press transfers once', async () => {
    const ana = uniqueTelegramId();
    const beto = uniqueTelegramId();
    const betoName = `beto_${beto}`.slice(0, 32);
    await t.post(textUpdate(beto, '/start', { username: betoName }));
    await t.post(textUpdate(ana, '/start'));
    await t.post(textUpdate(ana, '/daily'));
    const anaId = await userIdOf(admin, ana);
    const betoId = await userIdOf(admin, beto);
    await t.post(textUpdate(ana, `/regalar 4 @${betoName}`));
    const yes = buttonsOf(lastTo(t.telegram, 'sendMessage', ana, /Regalar/)).find((d) => d.startsWith('g:y:'));
    expect(yes).toBeDefined();
    const nonce = yes!.split(':')[2];
    const hold = await holdKey(anaId, `cmd:gift:${anaId}:${nonce}:out`);
    const press = callbackUpdate(ana, yes!);
    const res = t.post(press);
    await terminate(admin, await blockedBackend(admin, name, '%INSERT INTO transactions%'));
    await hold.rollback();
    expect((await res).status).toBe(503);
    expect(await balanceOfTelegram(admin, ana)).toBe(10);
    expect(await balanceOfTelegram(admin, beto)).toBe(0);

    expect((await t.post(press)).status).toBe(200);
    expect((await t.post(press)).status).toBe(200);
    expect((await t.post(callbackUpdate(ana, yes!))).status).toBe(200); // a second press of "Sí"
    expect(await balanceOfTelegram(admin, ana)).toBe(6);
    expect(await balanceOfTelegram(admin, beto)).toBe(4);
    expect(await ledgerMismatches(admin, [anaId, betoId])).toEqual([]);
    const [gifts] = await admin<{ n: number }[]>`SELECT count(*)::int AS n FROM transactions WHERE user_id = ${anaId} AND source = 'gift'`;
    expect(gifts?.n).toBe(1);
  });

  it('gift undo killed while waiting for the balance locks → 503, nothing reversed; the redelivered press reverses once', async () => {
    const ana = uniqueTelegramId();
    const beto = uniqueTelegramId();
    const betoName = `beto_${beto}`.slice(0, 32);
    await t.post(textUpdate(beto, '/start', { username: betoName }));
    await t.post(textUpdate(ana, '/daily'));
    await t.post(textUpdate(ana, `/regalar 3 @${betoName}`));
    const yes = buttonsOf(lastTo(t.telegram, 'sendMessage', ana, /Regalar/)).find((d) => d.startsWith('g:y:'))!;
    await t.post(callbackUpdate(ana, yes));
    const undo = buttonsOf(t.telegram.callsOf('editMessageText').filter((c) => Number(c.payload.chat_id) === ana).at(-1)).find((d) => d.startsWith('g:u:'));
    expect(undo).toBeDefined();
    const betoId = await userIdOf(admin, beto);
    const anaId = await userIdOf(admin, ana);
    const hold = await holdOpen(blocker, (tx) => tx`SELECT 1 FROM user_balances WHERE user_id = ${betoId} FOR UPDATE`);
    const press = callbackUpdate(ana, undo!);
    const res = t.post(press);
    await terminate(admin, await blockedBackend(admin, name, '%FOR UPDATE%'));
    await hold.rollback();
    expect((await res).status).toBe(503);
    expect(await balanceOfTelegram(admin, ana)).toBe(7);
    expect(await balanceOfTelegram(admin, beto)).toBe(3);

    expect((await t.post(press)).status).toBe(200);
    expect((await t.post(callbackUpdate(ana, undo!))).status).toBe(200); // pressed again
    expect(await balanceOfTelegram(admin, ana)).toBe(10);
    expect(await balanceOfTelegram(admin, beto)).toBe(0);
    const [rev] = await admin<{ n: number }[]>`SELECT count(*)::int AS n FROM transactions WHERE type = 'reversal' AND user_id IN ${admin([anaId, betoId])}`;
    expect(rev?.n).toBe(2);
    expect(await ledgerMismatches(admin, [anaId, betoId])).toEqual([]);
  });

  // Opt in with FAULT_KILL_STORM=1 (slow: retry rounds wait out the 60 s lease of attempts that died
  // unrecorded). Needs the driver fixes (patches/postgres+3.4.9.patch) and the capped reconnect backoff
  // of lib/db/client.ts (with postgres.js' default, growing to 20 s, hundreds of requests hung > 30 s).
  it.skipIf(skipped('fault: kill storm (db-kill)', process.env.FAULT_KILL_STORM !== '1', 'opt-in, about a minute: FAULT_KILL_STORM=1 npm test'))('kill storm: random backends of the app terminated every few ms while 120 users claim /daily twice (each update delivered twice) → every user ends with exactly 10', async () => {
    const name2 = appName('storm');
    const s = await faultApp(name2, { WEBHOOK_MAX_ATTEMPTS: '50' });
    const users = Array.from({ length: 120 }, () => uniqueTelegramId());
    const updates = users.flatMap((u) => [textUpdate(u, '/daily'), textUpdate(u, '/daily')]);
    let stop = false;
    let kills = 0;
    const killer = (async () => {
      while (!stop) {
        const rows = await admin<{ pid: number }[]>`
          SELECT pid FROM pg_stat_activity WHERE application_name = ${name2} AND state <> 'idle' ORDER BY random() LIMIT 1`;
        if (rows[0]) {
          await admin`SELECT pg_terminate_backend(${rows[0].pid})`;
          kills++;
        }
        await new Promise((r) => setTimeout(r, 3 + Math.random() * 10));
      }
    })();
    // Telegram gives up on a request after a while and redelivers: a hung request counts as a failure.
    let hung = 0;
    const deliver = (u: unknown) =>
      Promise.race([
        s.post(u).then((r) => r.status, () => 599),
        new Promise<number>((r) => setTimeout(() => r(-1), 30_000).unref()),
      ]).then((status) => (status === -1 ? (hung++, 504) : status));
    let pending = [...updates, ...updates];
    let rounds = 0;
    try {
      while (pending.length > 0 && rounds < 60) {
        rounds++;
        const statuses = await Promise.all(pending.map(deliver));
        pending = pending.filter((_, i) => statuses[i] !== 200);
        // Like Telegram, wait between retry rounds: an attempt that died unrecorded holds its update for the 60 s lease.
        if (rounds > 3 && pending.length > 0) await new Promise((r) => setTimeout(r, 2_000));
        if (rounds === 3) stop = true; // the last rounds run without faults: Telegram keeps retrying until it gets a 2xx
      }
    } finally {
      stop = true;
      await killer;
    }
    console.log(`[kill storm] ${kills} backends terminated, ${rounds} delivery rounds, ${hung} requests unanswered after 30 s`);
    expect(pending).toHaveLength(0);
    expect(kills).toBeGreaterThan(0);
    const ids = (await admin<{ id: number }[]>`SELECT id FROM users WHERE telegram_id IN ${admin(users)}`).map((r) => r.id);
    expect(ids, 'every user registered (none of their updates lost)').toHaveLength(users.length);
    const balances = await admin<{ besitos: number }[]>`SELECT besitos FROM user_balances WHERE user_id IN ${admin(ids)}`;
    expect(balances.map((b) => b.besitos)).toEqual(users.map(() => 10));
    expect(await ledgerMismatches(admin, ids)).toEqual([]);
    const statuses = await admin<{ status: string; n: number }[]>`
      SELECT status, count(*)::int AS n FROM telegram_updates WHERE update_id IN ${admin(updates.map((u) => u.update_id))} GROUP BY status`;
    expect(statuses).toEqual([{ status: 'done', n: updates.length }]);
  }, 240_000);
});
