/**
 * Fault: the event bus under a bad day. The QStash stand-in answers 500 to publishes in bursts, the
 * relay "crashes" after publishing and before marking rows sent (30 % of batches), QStash delivers
 * every message twice with jitter (so out of order), while 150 users claim /daily concurrently.
 * 30 of them also run /exportar, an async command executed by the commands subscriber.
 * After the sweeps catch up: every grant produced exactly one audit row and one statistics increment,
 * every (subscriber, event) was processed exactly once, and every export sent exactly one document.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { startTestApp, textUpdate } from '../support/app.js';
import { isolatedDatabase, startApiServer, useApp } from '../support/bus.js';
import { uniqueTelegramId } from '../support/db.js';
import { QStashServer } from '../support/qstash-server.js';

const USERS = 150;
const EXPORTS = 30;
const dbUrl = await isolatedDatabase();
const qstash = await new QStashServer({ retryDelayMs: (n) => 10 * n, deliveryCopies: 2, deliveryJitterMs: 30 }).start();
afterAll(() => qstash.stop());
const api = await startApiServer();
let crashes = 0;
const t = await startTestApp(
  { DATABASE_URL: dbUrl, RATE_LIMIT_MESSAGES: '10000', ...qstash.env(api.url) },
  {
    bus: {
      backoffSeconds: () => 0.05,
      afterPublish: async () => {
        if (Math.random() < 0.3) {
          crashes++;
          throw new Error('relay killed after publishing, before marking the rows sent');
        }
      },
    },
  },
);
useApp(t.app);
const db = t.app.db;

describe('fault: QStash 500s, relay crashes after publishing, duplicated out-of-order deliveries', () => {
  it('150 concurrent /daily and 30 /exportar → every event processed exactly once by each subscriber, one document per export', async () => {
    expect(t.app.bus.mode).toBe('qstash');
    const users = Array.from({ length: USERS }, () => uniqueTelegramId());
    qstash.failPublishes(5);
    let next = 0;
    await Promise.all(
      Array.from({ length: 12 }, async () => {
        while (next < users.length) {
          const i = next++;
          if (i === USERS / 2) qstash.failPublishes(5); // a second outage mid-way
          const res = await t.post(textUpdate(users[i]!, '/daily'));
          expect(res.status).toBe(200); // the bus never fails the webhook
          // The first 30 users also ask for their data export: an async command run by the commands subscriber.
          if (i < EXPORTS) expect((await t.post(textUpdate(users[i]!, '/exportar'))).status).toBe(200);
        }
      }),
    );
    // The cron sweep catches up (rows backed off after 500s, rows left by "crashed" relays).
    for (let i = 0; i < 60; i++) {
      await qstash.idle();
      const [p] = await db<{ n: number }[]>`SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL`;
      if (p!.n === 0) break;
      await new Promise((r) => setTimeout(r, 60));
      await t.app.bus.sweep().catch(() => null);
    }
    await qstash.idle();

    const ids = (await db<{ id: number }[]>`SELECT id FROM users WHERE telegram_id IN ${db(users)}`).map((r) => r.id);
    const [row] = await db<{ grants: number; events: number; audit: number; pending: number; processed: number; dupes: number; earned: number }[]>`
      WITH ev AS (SELECT event_id FROM outbox WHERE type = 'gamification.besitos_earned' AND user_id IN ${db(ids)})
      SELECT (SELECT count(*)::int FROM transactions WHERE source = 'daily' AND user_id IN ${db(ids)}) AS grants,
             (SELECT count(*)::int FROM ev) AS events,
             (SELECT count(*)::int FROM event_log WHERE event_id IN (SELECT event_id FROM ev)) AS audit,
             (SELECT count(*)::int FROM outbox WHERE published_at IS NULL) AS pending,
             (SELECT count(*)::int FROM processed_events WHERE event_id IN (SELECT event_id FROM ev)) AS processed,
             (SELECT count(*)::int FROM (SELECT subscriber, event_id FROM processed_events GROUP BY 1, 2 HAVING count(*) > 1) d) AS dupes,
             (SELECT COALESCE(sum(earned), 0)::int FROM besitos_source_stats WHERE source = 'daily') AS earned`;
    console.log(`[bus chaos] ${crashes} relay crashes after publishing, ${qstash.published.length} messages published`);
    expect(crashes).toBeGreaterThan(0);
    expect(row).toEqual({ grants: USERS, events: USERS, audit: USERS, pending: 0, processed: USERS * 2, dupes: 0, earned: 10 * USERS });
    // Each export ran once and its document was sent once, despite duplicated deliveries and relay crashes.
    const documents = (chatId: number) =>
      t.telegram.callsOf('sendDocument').filter((c) => String(c.payload._raw ?? JSON.stringify(c.payload)).includes(`\r\n\r\n${chatId}\r\n`)).length;
    expect(users.slice(0, EXPORTS).map(documents)).toEqual(users.slice(0, EXPORTS).map(() => 1));
    const [exp] = await db<{ n: number }[]>`SELECT count(*)::int AS n FROM actions WHERE user_id IN ${db(ids)} AND status = 'done' AND name <> 'daily'`;
    expect(exp!.n).toBe(EXPORTS);
  }, 120_000);
});
