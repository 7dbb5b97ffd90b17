/**
 * The sliding window sees the same outlier and the same unexplained grants every run for up to 7 days:
 * the hourly job (anomalyJob, run as the scheduler runs it, in a transaction) raises a flag once and
 * later runs — the same day or the next — refresh its figures and extend its window instead of raising
 * it again; the admins' notice lists only new flags.
 */
import { describe, expect, it } from 'vitest';
import { grantBesitos } from '../../lib/besitos/ledger.js';
import { anomalyJob, DAY_MS } from '../../lib/economy/anomalies.js';
import { simulateEconomy } from '../../lib/economy/simulate.js';
import { silentLogger } from '../../lib/log.js';
import { useTestDb } from '../support/db.js';
import { userWithBesitos } from '../support/ledger.js';

const db = useTestDb(5);
const TZ = 'America/Mexico_City';
const ADMIN = 555;
const T0 = new Date();
const sim = await simulateEconomy(db, { users: 200, days: 8, now: T0, timeZone: TZ, seed: 5, farmer: true, impossible: true });

const notices: string[] = [];
const telegram = { sendMessage: async (chatId: number, text: string) => void notices.push(`${chatId}:${text}`) };

/** One run of the hourly job at `now`, as the scheduler runs it. */
async function runJob(now: Date): Promise<void> {
  await db.begin((tx) =>
    anomalyJob.run(tx, { adminTelegramIds: [ADMIN] }, {
      kind: anomalyJob.kind, key: `t:${now.toISOString()}`, dueAt: now, now, lateMs: 0, attempt: 1,
      clock: { now: () => now } as never, timeZone: TZ, log: silentLogger, telegram: telegram as never,
    }),
  );
}

const flags = () =>
  db<{ id: string; user_id: string; kind: string; source: string; window_key: string; window_start: Date; window_end: Date; amount: string }[]>`
    SELECT id, user_id, kind, source, window_key, window_start, window_end, amount FROM economy_flags ORDER BY id`;
const shape = (rows: Awaited<ReturnType<typeof flags>>) => rows.map((f) => `${f.id}:${f.user_id}:${f.kind}:${f.source}:${f.window_key}`);

let first: Awaited<ReturnType<typeof flags>>;
let storyUser = 0;

describe('a flag is raised once while the sliding window keeps seeing it', () => {
  it('the first run flags the farmer and the impossible rows and tells the admin once', async () => {
    await runJob(T0);
    first = await flags();
    const who = new Set(first.map((f) => Number(f.user_id)));
    expect(who).toEqual(new Set([sim.farmerId, sim.overCapId, sim.unmatchedId]));
    expect(first.some((f) => f.kind === 'outlier')).toBe(true);
    expect(first.some((f) => f.kind === 'unmatched')).toBe(true);
    expect(notices).toHaveLength(1);
    expect(notices[0]).toContain(`${first.length} alertas nuevas`);
  });

  it('run twice the same day: no new flag, no second notice', async () => {
    await runJob(new Date(T0.getTime() + 3_600_000));
    expect(shape(await flags())).toEqual(shape(first));
    expect(notices).toHaveLength(1);
  });

  it('the next day (a new window key): the open flags are refreshed and extended, none raised again, no notice', async () => {
    const nextDay = new Date(T0.getTime() + DAY_MS);
    await runJob(nextDay);
    const after = await flags();
    expect(shape(after)).toEqual(shape(first));
    expect(notices).toHaveLength(1);
    // The outlier's window now ends at the later run; its start is the first run's.
    const outlier = after.find((f) => f.kind === 'outlier' && f.source === '*')!;
    expect(new Date(outlier.window_end).getTime()).toBe(nextDay.getTime());
    expect(new Date(outlier.window_start).getTime()).toBe(T0.getTime() - 7 * DAY_MS);
    // Its figures are the later window's: a day of the farmer's earnings slid out of it.
    const before = first.find((f) => f.kind === 'outlier' && f.source === '*')!;
    expect(Number(outlier.amount)).toBeLessThan(Number(before.amount));
  });

  it('a new anomaly the next day is told alone; the old ones stay quiet', async () => {
    const user = await userWithBesitos(db);
    await grantBesitos(db, { userId: user, amount: 10, source: 'story', idempotencyKey: `bug:story:${user}` }); // no story action pays it
    const nextDay = new Date(Math.max(Date.now(), T0.getTime() + DAY_MS) + 60_000);
    await runJob(nextDay);
    const after = await flags();
    expect(after).toHaveLength(first.length + 1);
    expect(after.at(-1)).toMatchObject({ user_id: user, kind: 'unmatched', source: 'story' });
    storyUser = user;
    expect(notices).toHaveLength(2);
    expect(notices[1]).toContain('una alerta nueva');
    expect(notices[1]).toContain(`#${user}`);
  });

  it('once the window has slid past what an open flag saw, the same user is flagged anew', async () => {
    // Nine days later an unexplained story grant again (written as a bug would, at that time).
    const at = new Date(T0.getTime() + 9 * DAY_MS);
    await db.begin(async (tx) => {
      const [b] = await tx<{ besitos: number }[]>`UPDATE user_balances SET besitos = besitos + 10, lifetime_besitos = lifetime_besitos + 10 WHERE user_id = ${storyUser} RETURNING besitos`;
      await tx`INSERT INTO transactions (user_id, amount, type, source, balance_after, idempotency_key, created_at)
               VALUES (${storyUser}, 10, 'grant', 'story', ${b!.besitos}, ${`bug:story:again:${storyUser}`}, ${at})`;
    });
    const before = (await flags()).length;
    await runJob(new Date(T0.getTime() + 10 * DAY_MS));
    const mine = (await flags()).filter((f) => Number(f.user_id) === storyUser);
    expect(mine.map((f) => `${f.kind}:${f.source}`)).toEqual(['unmatched:story', 'unmatched:story']);
    expect((await flags()).length).toBe(before + 1);
    expect(notices).toHaveLength(3);
    expect(notices[2]).toContain('una alerta nueva');
  });
});
