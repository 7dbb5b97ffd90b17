import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { startTestApp, textUpdate } from '../support/app.js';
import { countRows, isolatedDatabase, startApiServer, useApp } from '../support/bus.js';
import { uniqueTelegramId } from '../support/db.js';
import { QStashServer } from '../support/qstash-server.js';

/**
 * /daily end to end over HTTP: Telegram update → webhook (grant + outbox in one transaction) →
 * relay after commit → QStash stand-in (/v2/batch) → signed delivery → api/events/{audit,gamification}
 * → exactly one audit row and one statistics increment per grant, under replay and relay crashes.
 */
const dbUrl = await isolatedDatabase();
const qstash = await new QStashServer({ retryDelayMs: (n) => 10 * n }).start();
afterAll(() => qstash.stop());
const api = await startApiServer();
const ADMIN = uniqueTelegramId();
let crashRelay = 0;
const t = await startTestApp(
  {
    DATABASE_URL: dbUrl,
    CRON_SECRET: 'cron-secret-e2e',
    ADMIN_USER_IDS: String(ADMIN),
    ...qstash.env(api.url),
  },
  {
    bus: {
      backoffSeconds: () => 0.05,
      afterPublish: async () => {
        if (crashRelay > 0) {
          crashRelay--;
          throw new Error('relay killed after publishing');
        }
      },
    },
  },
);
const { app, telegram, post } = t;
useApp(app);

async function userIdOf(telegramId: number): Promise<number> {
  const [u] = await app.db<{ id: number }[]>`SELECT id FROM users WHERE telegram_id = ${telegramId}`;
  return u!.id;
}
const auditRows = async (telegramId: number) =>
  countRows(app.db, 'event_log', `type = 'gamification.besitos_earned' AND user_id = ${await userIdOf(telegramId)}`);
async function dailyStats() {
  const [r] = await app.db<{ earned: number; n: number }[]>`
    SELECT coalesce(sum(earned), 0)::int AS earned, coalesce(sum(earned_count), 0)::int AS n FROM besitos_source_stats WHERE source = 'daily'`;
  return r!;
}
const grants = () => countRows(app.db, 'transactions', `source = 'daily'`);
const cron = (auth = 'Bearer cron-secret-e2e') => fetch(`${api.url}/api/cron/relay`, { headers: { authorization: auth } });

beforeEach(async () => {
  qstash.options.deliveryCopies = 1;
  await qstash.idle();
  telegram.reset();
});

describe('/daily → outbox → QStash → subscribers, end to end', () => {
  it('one grant → one audit row and one statistics increment; replays change nothing', async () => {
    expect(app.bus.mode).toBe('qstash');
    const id = uniqueTelegramId();
    const update = textUpdate(id, '/daily');
    expect((await post(update)).status).toBe(200);
    await qstash.idle();
    expect(await auditRows(id)).toBe(1);
    expect(await dailyStats()).toEqual({ earned: 10, n: 1 });

    // Telegram redelivers the update; the user asks again; the sweep runs: still one of each.
    expect(await post(update)).toEqual({ status: 200, body: 'duplicate' });
    await post(textUpdate(id, '/daily'));
    expect((await cron()).status).toBe(200);
    await qstash.idle();
    expect(await auditRows(id)).toBe(1);
    expect(await dailyStats()).toEqual({ earned: 10, n: 1 });
    expect(await countRows(app.db, 'outbox', 'published_at IS NULL')).toBe(0);
  });

  it('relay killed after publishing, before marking sent: the sweep republishes, subscribers absorb it', async () => {
    const id = uniqueTelegramId();
    const before = await dailyStats();
    crashRelay = 1;
    expect((await post(textUpdate(id, '/daily'))).status).toBe(200); // the update's effects were committed
    const unpublishedDaily = "published_at IS NULL AND type = 'gamification.besitos_earned'";
    expect(await countRows(app.db, 'outbox', unpublishedDaily)).toBe(1);
    await qstash.idle();
    qstash.clearDedup(); // past QStash's deduplication window: the duplicate reaches the subscribers
    const sweep = await (await cron()).json();
    // The daily event again, and what the subscribers wrote meanwhile (gamification assigns the weekly streak mission).
    expect(sweep.published).toBeGreaterThanOrEqual(1);
    expect(await countRows(app.db, 'outbox', unpublishedDaily)).toBe(0);
    await qstash.idle();
    const copies = qstash.attempts.filter((a) => a.destination.endsWith('/api/events/gamification') && a.status === 200);
    expect(copies.length).toBeGreaterThanOrEqual(2);
    expect(await auditRows(id)).toBe(1);
    expect(await dailyStats()).toEqual({ earned: before.earned + 10, n: before.n + 1 });
  });

  it('the after-commit relay publishes only the events its own update wrote, and nothing for updates that wrote none', async () => {
    const id = uniqueTelegramId();
    // A row some other request left pending (its instance froze before relaying): the cron's job, not ours.
    const stray = crypto.randomUUID();
    const strayEvent = { event_id: stray, type: 'gamification.besitos_earned', version: 1, occurred_at: new Date().toISOString(), user_id: 1, data: { amount: 1, source: 'mission', transaction_id: 1, balance_after: 1 } };
    await app.db`INSERT INTO outbox (event_id, type, user_id, event) VALUES (${stray}, ${strayEvent.type}, 1, ${app.db.json(strayEvent as never)})`;
    const published = () => qstash.attempts.length;

    const before = published();
    expect((await post(textUpdate(id, '/balance'))).status).toBe(200); // writes no event
    await qstash.idle();
    expect(published()).toBe(before);

    expect((await post(textUpdate(id, '/daily'))).status).toBe(200);
    await qstash.idle();
    expect(await auditRows(id)).toBe(1);
    const [strayRow] = await app.db<{ published_at: Date | null }[]>`SELECT published_at FROM outbox WHERE event_id = ${stray}`;
    expect(strayRow!.published_at).toBeNull();

    expect((await cron()).status).toBe(200); // the sweep takes the stray row
    await qstash.idle();
    const [swept] = await app.db<{ published_at: Date | null }[]>`SELECT published_at FROM outbox WHERE event_id = ${stray}`;
    expect(swept!.published_at).not.toBeNull();
  });

  it('QStash down during the webhook: the update still succeeds, the sweep delivers later, once', async () => {
    const id = uniqueTelegramId();
    const before = await dailyStats();
    qstash.failPublishes(1);
    expect((await post(textUpdate(id, '/daily'))).status).toBe(200);
    const [row] = await app.db<{ last_error: string }[]>`SELECT last_error FROM outbox WHERE published_at IS NULL`;
    expect(row?.last_error).toMatch(/500|outage/);
    await new Promise((r) => setTimeout(r, 100));
    await cron();
    await qstash.idle();
    expect(await auditRows(id)).toBe(1);
    expect(await dailyStats()).toEqual({ earned: before.earned + 10, n: before.n + 1 });
  });

  it('many users at once, every message delivered twice: one audit row and one increment per grant', async () => {
    qstash.options.deliveryCopies = 2;
    const before = await dailyStats();
    const ids = Array.from({ length: 20 }, () => uniqueTelegramId());
    const updates = ids.map((id) => textUpdate(id, '/daily'));
    const results = await Promise.all([...updates, ...updates].map((u) => post(u)));
    // A copy that arrives while the other is being handled is told to come back (503 'in progress').
    expect(results.every((r) => r.status === 200 || (r.status === 503 && r.body === 'in progress'))).toBe(true);
    expect(results.filter((r) => r.status === 200).length).toBeGreaterThanOrEqual(20);
    await cron();
    await qstash.idle();
    for (const id of ids) expect(await auditRows(id)).toBe(1);
    expect(await dailyStats()).toEqual({ earned: before.earned + 200, n: before.n + 20 });
    expect(await dailyStats()).toEqual({ earned: (await grants()) * 10, n: await grants() });
  });
});

describe('/eventos (admins)', () => {
  it('shows a user\'s recent events in Spanish', async () => {
    const id = uniqueTelegramId();
    await post(textUpdate(id, '/daily', { username: 'ana_eventos' }));
    await qstash.idle();
    telegram.reset();
    await post(textUpdate(ADMIN, `/eventos ${id}`));
    await post(textUpdate(ADMIN, '/eventos @ana_eventos gamification'));
    const [byId, byName] = telegram.sentTexts(ADMIN);
    for (const text of [byId, byName]) {
      expect(text).toMatch(/Últimos 1 eventos de @ana_eventos/);
      expect(text).toMatch(/Besitos ganados · <b>\+10<\/b> · Regalo diario · saldo 10/);
    }
  });

  it('all users without an argument; clear answers for unknown users and bad arguments', async () => {
    await post(textUpdate(ADMIN, '/eventos'));
    await post(textUpdate(ADMIN, '/eventos @nadie_existe_xyz'));
    await post(textUpdate(ADMIN, '/eventos <b>'));
    await post(textUpdate(ADMIN, '/eventos 123 narrative'));
    const [all, unknown, bad, none] = telegram.sentTexts(ADMIN);
    expect(all).toMatch(/Últimos \d+ eventos<\/b>/);
    expect(all).toMatch(/#\d+/);
    expect(unknown).toContain('No encontré a ningún usuario «@nadie_existe_xyz»');
    expect(bad).toMatch(/Uso: <code>\/eventos/);
    expect(none).toContain('No encontré');
  });

  it('non-admins get the forbidden message and nothing else', async () => {
    const id = uniqueTelegramId();
    await post(textUpdate(id, '/daily'));
    telegram.reset();
    await post(textUpdate(id, `/eventos ${id}`));
    expect(telegram.sentTexts(id)).toEqual(['Ese comando es solo para administradores.']);
  });

  it('the cron endpoint refuses requests without the secret', async () => {
    expect((await cron('Bearer nope')).status).toBe(401);
  });
});
