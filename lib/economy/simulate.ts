import type { Queryable } from '../db/client.js';
import { withTransaction } from '../db/transaction.js';
import { addDays, localDate, startOfLocalDay } from '../time/zone.js';

/**
 * A simulated economy written into a database: users who claim the daily gift, answer trivia, play the
 * story, complete missions, buy in the shop and gift each other, over whole local days ending today —
 * plus, on request, a farmer (a script answering trivia all day) and impossible rows (a second daily
 * gift in a day, mission rewards without a completed mission).
 *
 * Written directly, not through lib/besitos: the ledger stamps every row with the database's now(),
 * and a month of history needs past timestamps. The rows are exactly the ones lib/besitos writes
 * (signed amount, balance_after per user in time order, unique idempotency keys, the action rows and
 * daily_claims/user_missions that prove the grants), and the writer checks the ledger invariant
 * (balance = Σ transactions, never below zero) before it commits. For the anomaly tests (1,000 users)
 * and `npm run economy:month` (the dashboard's simulated month). Never run against production data:
 * the script refuses a database that has users not made by it.
 */

export interface SimulationOptions {
  users: number;
  days: number;
  now: Date;
  timeZone: string;
  seed?: number;
  /** Plant a trivia farmer (default true). */
  farmer?: boolean;
  /** Plant impossible rows: a doubled daily gift, mission rewards without a mission (default false). */
  impossible?: boolean;
  /** First Telegram id of the simulated users (they get consecutive ids). */
  telegramIdBase?: number;
  /** Prefix of idempotency keys and request keys (distinct runs in one database). */
  runId?: string;
}

export interface SimulationResult {
  userIds: number[];
  farmerId: number | null;
  /** User ids with planted impossible rows: the doubled daily gift, the mission without a mission. */
  overCapId: number | null;
  unmatchedId: number | null;
  transactions: number;
  earned: number;
  spent: number;
  supply: number;
}

/** mulberry32: a small seeded PRNG, so a simulation is reproducible. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Ev =
  | { at: number; kind: 'daily'; user: number; amount: number }
  | { at: number; kind: 'grant'; user: number; source: 'trivia' | 'story' | 'mission'; amount: number; subject: string; proof: boolean }
  | { at: number; kind: 'shop'; user: number; amount: number; item: string }
  | { at: number; kind: 'gift'; user: number; to: number; amount: number };

interface TxRow {
  user_id: number;
  amount: number;
  type: string;
  source: string;
  description: string | null;
  metadata: Record<string, unknown>;
  balance_after: number;
  idempotency_key: string;
  counterparty_id: number | null;
  created_at: string;
}

const ITEMS = [
  ['rosa_roja', 30],
  ['carta_perfumada', 45],
  ['foto_firmada', 80],
] as const;

export async function simulateEconomy(db: Queryable, o: SimulationOptions): Promise<SimulationResult> {
  const rand = rng(o.seed ?? 42);
  const runId = o.runId ?? `sim${Math.floor(rand() * 1e9)}`;
  const tgBase = o.telegramIdBase ?? 8_000_000_000 + Math.floor(rand() * 1e8);
  const n = o.users;
  const withFarmer = o.farmer ?? true;
  const today = localDate(o.now, o.timeZone);
  const days = Array.from({ length: o.days }, (_, i) => addDays(today, i - o.days + 1));

  return withTransaction(db, async (tx) => {
    // users (first names only: the dashboard shows names as admins see them)
    const names = ['Ana', 'Luis', 'Sofía', 'Diego', 'Valeria', 'Mateo', 'Camila', 'Javier', 'Lucía', 'Andrés', 'Elena', 'Pablo'];
    const created = new Date(startOfLocalDay(days[0]!, o.timeZone).getTime() - 86_400_000);
    const userRows = Array.from({ length: n }, (_, i) => ({
      telegram_id: tgBase + i,
      first_name: withFarmer && i === n - 1 ? 'Granjero' : `${names[i % names.length]} ${i + 1}`,
      username: withFarmer && i === n - 1 ? `granja_${runId}`.slice(0, 32) : null,
      created_at: created.toISOString(),
    }));
    const inserted = await tx<{ id: number; telegram_id: number }[]>`
      INSERT INTO users (telegram_id, first_name, username, created_at, last_active_at)
      SELECT x.telegram_id, x.first_name, x.username, x.created_at, x.created_at
        FROM jsonb_to_recordset(${tx.json(userRows as never)}) AS x(telegram_id bigint, first_name text, username text, created_at timestamptz)
      RETURNING id, telegram_id`;
    const ids = inserted.sort((a, b) => a.telegram_id - b.telegram_id).map((r) => Number(r.id));
    const farmerId = withFarmer ? ids[n - 1]! : null;
    const overCapId = o.impossible ? ids[0]! : null;
    const unmatchedId = o.impossible ? ids[1]! : null;

    // who each user is: how often they come back, how much they play
    const activity = ids.map(() => 0.15 + 0.8 * rand() ** 0.6);
    const playfulness = ids.map(() => rand());
    const events: Ev[] = [];
    days.forEach((day, di) => {
      const dayStart = startOfLocalDay(day, o.timeZone).getTime();
      const dayEnd = Math.min(startOfLocalDay(addDays(day, 1), o.timeZone).getTime(), o.now.getTime());
      const span = dayEnd - dayStart;
      if (span <= 60_000) return;
      const at = (f: number) => Math.floor(dayStart + f * (span - 60_000));
      ids.forEach((u, i) => {
        const isFarmer = u === farmerId;
        if (!isFarmer && rand() > activity[i]!) return;
        const t0 = rand() * 0.8;
        events.push({ at: at(t0), kind: 'daily', user: u, amount: 10 });
        // The farmer scripts trivia up to the policy's daily cap (15 answers of 10): never over a cap, every
        // grant proven by its command — only the rate gives them away.
        const trivia = isFarmer ? 15 : Math.floor(rand() * 4 * playfulness[i]!);
        for (let k = 0; k < trivia; k++) {
          if (isFarmer || rand() < 0.6)
            events.push({ at: at(t0 + ((k + 1) * (0.95 - t0)) / (trivia + 1)), kind: 'grant', user: u, source: 'trivia', amount: isFarmer ? 10 : 5, subject: `t${di}_${k}`, proof: true });
        }
        if (rand() < 0.5 * playfulness[i]!) events.push({ at: at(t0 + 0.02), kind: 'grant', user: u, source: 'story', amount: 3 + Math.floor(rand() * 13), subject: `f${di}`, proof: true });
        if (rand() < 0.3) events.push({ at: at(t0 + 0.03), kind: 'grant', user: u, source: 'mission', amount: 20, subject: 'mision_diaria', proof: true });
        if (rand() < 0.15) {
          const [item, price] = ITEMS[Math.floor(rand() * ITEMS.length)]!;
          events.push({ at: at(t0 + 0.04), kind: 'shop', user: u, amount: price, item });
        }
        if (rand() < 0.05 && n > 1) {
          let to = ids[Math.floor(rand() * n)]!;
          if (to === u) to = ids[(ids.indexOf(u) + 1) % n]!;
          events.push({ at: at(t0 + 0.05), kind: 'gift', user: u, to, amount: 5 + Math.floor(rand() * 16) });
        }
      });
      if (o.impossible && di === days.length - 2) {
        // a bug granted the daily gift twice to one user; another got mission rewards for nothing
        events.push({ at: at(0.85), kind: 'daily', user: overCapId!, amount: 10 }, { at: at(0.9), kind: 'daily', user: overCapId!, amount: 10 });
        for (let k = 0; k < 3; k++) events.push({ at: at(0.5 + k * 0.01), kind: 'grant', user: unmatchedId!, source: 'mission', amount: 20, subject: `fantasma_${k}`, proof: false });
      }
    });
    events.sort((a, b) => a.at - b.at);

    // apply in time order: balances, streaks, proofs
    const balance = new Map<number, number>(ids.map((u) => [u, 0]));
    const lifetime = new Map<number, number>(ids.map((u) => [u, 0]));
    const lastDaily = new Map<number, { day: string; streak: number }>();
    const rows: TxRow[] = [];
    const claims: { key: string; user_id: number; day: string; streak: number }[] = [];
    const actions: { key: string; user_id: number; name: string; at: string }[] = [];
    const missions: { key: string; user_id: number; mission_key: string; period: string; reward: number; at: string }[] = [];
    const key = () => `${runId}:${rows.length}`;
    const push = (r: Omit<TxRow, 'idempotency_key' | 'balance_after' | 'metadata' | 'counterparty_id'> & Partial<TxRow>) => {
      const b = (balance.get(r.user_id) ?? 0) + r.amount;
      balance.set(r.user_id, b);
      if (r.type === 'grant') lifetime.set(r.user_id, (lifetime.get(r.user_id) ?? 0) + r.amount);
      const row: TxRow = { metadata: {}, counterparty_id: null, ...r, balance_after: b, idempotency_key: key() };
      rows.push(row);
      return row;
    };
    for (const e of events) {
      const iso = new Date(e.at).toISOString();
      if (e.kind === 'daily') {
        const day = localDate(new Date(e.at), o.timeZone);
        const prev = lastDaily.get(e.user);
        const planted = prev?.day === day;
        const streak = planted ? prev.streak : prev?.day === addDays(day, -1) ? prev.streak + 1 : 1;
        const row = push({ user_id: e.user, amount: e.amount, type: 'grant', source: 'daily', description: `Regalo diario (racha ${streak})`, created_at: iso, metadata: { day, streak } });
        if (!planted) {
          claims.push({ key: row.idempotency_key, user_id: e.user, day, streak });
          lastDaily.set(e.user, { day, streak });
        }
      } else if (e.kind === 'grant') {
        const row = push({ user_id: e.user, amount: e.amount, type: 'grant', source: e.source, description: e.source === 'mission' ? e.subject : `Simulación: ${e.subject}`, created_at: iso });
        if (e.source === 'mission') {
          if (e.proof) missions.push({ key: row.idempotency_key, user_id: e.user, mission_key: e.subject, period: localDate(new Date(e.at), o.timeZone), reward: e.amount, at: iso });
        } else actions.push({ key: row.idempotency_key, user_id: e.user, name: e.source, at: iso });
      } else if (e.kind === 'shop') {
        if ((balance.get(e.user) ?? 0) < e.amount) continue;
        const row = push({ user_id: e.user, amount: -e.amount, type: 'spend', source: 'shop', description: e.item, created_at: iso, metadata: { item_key: e.item, quantity: 1 } });
        actions.push({ key: row.idempotency_key, user_id: e.user, name: 'shop.buy', at: iso });
      } else {
        if ((balance.get(e.user) ?? 0) < e.amount) continue;
        const out = push({ user_id: e.user, amount: -e.amount, type: 'transfer_out', source: 'gift', description: null, created_at: iso, counterparty_id: e.to });
        push({ user_id: e.to, amount: e.amount, type: 'transfer_in', source: 'gift', description: null, created_at: iso, counterparty_id: e.user });
        actions.push({ key: out.idempotency_key, user_id: e.user, name: 'gift', at: iso });
      }
    }

    const txIds = new Map<string, number>();
    for (let i = 0; i < rows.length; i += 5_000) {
      const chunk = rows.slice(i, i + 5_000).map((r, k) => ({ ...r, seq: i + k }));
      const got = await tx<{ id: number; idempotency_key: string }[]>`
        INSERT INTO transactions (user_id, amount, type, source, description, metadata, balance_after, idempotency_key, counterparty_id, created_at)
        SELECT x.user_id, x.amount, x.type, x.source, x.description, x.metadata, x.balance_after, x.idempotency_key, x.counterparty_id, x.created_at
          FROM jsonb_to_recordset(${tx.json(chunk as never)})
            AS x(user_id bigint, amount bigint, type text, source text, description text, metadata jsonb, balance_after bigint,
                 idempotency_key text, counterparty_id bigint, created_at timestamptz, seq bigint)
         ORDER BY x.seq
        RETURNING id, idempotency_key`;
      for (const g of got) txIds.set(g.idempotency_key, Number(g.id));
    }
    await tx`
      INSERT INTO user_balances (user_id, besitos, lifetime_besitos)
      SELECT x.user_id, x.besitos, x.lifetime FROM jsonb_to_recordset(${tx.json(ids.map((u) => ({ user_id: u, besitos: balance.get(u), lifetime: lifetime.get(u) })) as never)})
        AS x(user_id bigint, besitos bigint, lifetime bigint)`;
    for (let i = 0; i < claims.length; i += 5_000) {
      await tx`
        INSERT INTO daily_claims (user_id, day, streak, transaction_id, request_key, claimed_at)
        SELECT x.user_id, x.day::date, x.streak, t.id, x.key, t.created_at
          FROM jsonb_to_recordset(${tx.json(claims.slice(i, i + 5_000) as never)}) AS x(key text, user_id bigint, day text, streak int)
          JOIN transactions t ON t.idempotency_key = x.key`;
    }
    for (let i = 0; i < actions.length; i += 5_000) {
      // completed_at = the grant's created_at: what a command's transaction writes (both are its now()).
      await tx`
        INSERT INTO actions (user_id, name, idempotency_key, status, params, result, created_at, completed_at)
        SELECT x.user_id, x.name, 'sim:' || x.key, 'done', '{}', jsonb_build_object('transaction_id', t.id), t.created_at, t.created_at
          FROM jsonb_to_recordset(${tx.json(actions.slice(i, i + 5_000) as never)}) AS x(key text, user_id bigint, name text)
          JOIN transactions t ON t.idempotency_key = x.key`;
    }
    if (missions.length) {
      await tx`
        INSERT INTO user_missions (user_id, mission_key, period, status, progress, target, reward_besitos, assigned_at, completed_at)
        SELECT x.user_id, x.mission_key, x.period, 'completed', 1, 1, x.reward, x.at, x.at
          FROM jsonb_to_recordset(${tx.json(missions as never)}) AS x(user_id bigint, mission_key text, period text, reward int, at timestamptz)
        ON CONFLICT DO NOTHING`;
    }
    // The ledger invariant, before committing: balance = Σ transactions, never below zero.
    const [bad] = await tx<{ n: number }[]>`
      SELECT count(*)::int AS n FROM user_balances b
        LEFT JOIN (SELECT user_id, sum(amount) AS s FROM transactions WHERE user_id IN ${tx(ids)} GROUP BY user_id) t USING (user_id)
       WHERE b.user_id IN ${tx(ids)} AND (b.besitos <> COALESCE(t.s, 0) OR b.besitos < 0)`;
    if (bad!.n > 0) throw new Error(`simulation broke the ledger invariant for ${bad!.n} users`);
    const earned = rows.filter((r) => r.type === 'grant').reduce((s, r) => s + r.amount, 0);
    const spent = -rows.filter((r) => r.type === 'spend').reduce((s, r) => s + r.amount, 0);
    return {
      userIds: ids,
      farmerId,
      overCapId,
      unmatchedId,
      transactions: rows.length,
      earned,
      spent,
      supply: [...balance.values()].reduce((s, b) => s + b, 0),
    };
  });
}
