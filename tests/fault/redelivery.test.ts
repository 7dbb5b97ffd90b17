/**
 * Fault: Telegram delivers every update three times, concurrently and out of order.
 * 10,000 mixed updates from 1,000 users (/start, /daily twice, /balance, /history, the "Más" button,
 * /regalar to another user and its "Sí" press, an unknown command, plain text), each posted 3×, all
 * 30,000 shuffled and sent with bounded concurrency. A post that does not get a 2xx is redelivered
 * (as Telegram does) until it does.
 * Expected: every update handled once (inbox 'done'), the ledger invariant holds for every user,
 * exactly one daily grant per user, and the besitos of these users add up to exactly 10 × 1,000
 * (gifts move besitos between them, never create or destroy any).
 */
import { describe, expect, it } from 'vitest';
import { callbackUpdate, nextUpdateId, textUpdate } from '../support/app.js';
import { uniqueTelegramId } from '../support/db.js';
import { middayClock } from '../support/clock.js';
import { ledgerMismatches } from '../support/ledger.js';
import { appName, faultApp, useAdminDb } from './support.js';

const USERS = 1_000;
const CONCURRENCY = 32;
const admin = useAdminDb();
const TZ = 'America/Mexico_City';
// "Exactly one daily gift per user" holds within one local day: a run that crossed local midnight
// (06:00 UTC) gave the second /daily of some users a new day's gift. The bot's clock reads noon.
const t = await faultApp(appName('redelivery'), { WEBHOOK_MAX_ATTEMPTS: '20', BOT_TIMEZONE: TZ }, { clock: middayClock(TZ) });

function shuffle<T>(xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

describe('fault: every update delivered 3×, concurrently and out of order', () => {
  it('10,000 mixed updates from 1,000 users, 30,000 deliveries → each handled once, invariant per user, total exactly 10,000 besitos', async () => {
    const tgs = Array.from({ length: USERS }, () => uniqueTelegramId());
    const name = (tg: number) => `u${tg}`;
    const updates: { update_id: number }[] = [];
    tgs.forEach((tg, i) => {
      const other = tgs[(i + 1) % USERS]!;
      const opts = () => ({ username: name(tg), firstName: 'Fan', updateId: nextUpdateId() });
      const regalar = textUpdate(tg, `/regalar ${1 + (i % 5)} @${name(other)}`, opts());
      updates.push(
        textUpdate(tg, '/start', opts()),
        textUpdate(tg, '/daily', opts()),
        textUpdate(tg, '/daily', opts()),
        textUpdate(tg, '/balance', opts()),
        textUpdate(tg, '/history', opts()),
        callbackUpdate(tg, 'hist:999999999999'),
        regalar,
        callbackUpdate(tg, `g:y:${regalar.update_id}`), // the "Sí" of that gift: nonce = the /regalar update id
        textUpdate(tg, '/nosuchcommand', opts()),
        textUpdate(tg, 'hola Diana 💋', opts()),
      );
    });
    expect(updates).toHaveLength(10_000);
    let queue = shuffle(updates.flatMap((u) => [u, u, u]));
    let deliveries = 0;
    let non2xx = 0;
    const started = Date.now();
    for (let round = 0; queue.length > 0 && round < 10; round++) {
      const again: typeof queue = [];
      let next = 0;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < queue.length) {
            const u = queue[next++]!;
            deliveries++;
            const status = await t.post(u).then((r) => r.status, () => 599);
            if (status < 200 || status >= 300) {
              non2xx++;
              again.push(u);
            }
          }
        }),
      );
      queue = shuffle(again);
    }
    console.log(`[redelivery] ${deliveries} deliveries in ${((Date.now() - started) / 1000).toFixed(1)} s, ${non2xx} non-2xx redelivered`);
    expect(queue).toHaveLength(0);

    const ids = (await admin<{ id: number }[]>`SELECT id FROM users WHERE telegram_id IN ${admin(tgs)}`).map((r) => r.id);
    expect(ids).toHaveLength(USERS);
    expect(await ledgerMismatches(admin, ids)).toEqual([]);
    const [totals] = await admin<{ total: number; dailies: number; gifts: number }[]>`
      SELECT (SELECT COALESCE(SUM(besitos), 0)::bigint FROM user_balances WHERE user_id IN ${admin(ids)}) AS total,
             (SELECT count(*)::int FROM transactions WHERE user_id IN ${admin(ids)} AND source = 'daily') AS dailies,
             (SELECT count(*)::int FROM transactions WHERE user_id IN ${admin(ids)} AND source = 'gift' AND type = 'transfer_out') AS gifts`;
    console.log(`[redelivery] ${totals!.gifts} gifts went through (the rest were confirmed before they were proposed, or could not be afforded)`);
    expect(totals!.dailies).toBe(USERS);
    expect(totals!.total).toBe(10 * USERS);
    const statuses = await admin<{ status: string; n: number }[]>`
      SELECT status, count(*)::int AS n FROM telegram_updates WHERE update_id IN ${admin(updates.map((u) => u.update_id))} GROUP BY status`;
    expect(statuses).toEqual([{ status: 'done', n: 10_000 }]);
  // 400 s: the in-process relay now also runs the gamification subscriber for every ledger event
  // (facts, missions, achievements: ~10 statements each), which about doubles this run on a loaded machine.
  }, 400_000);
});
