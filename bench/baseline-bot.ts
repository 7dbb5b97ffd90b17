/**
 * The baseline of benchmark 2: the smallest correct telegraf webhook bot (ARCHITECTURE.md,
 * "Performance budget"). Per update: constant-time secret check, an inbox row keyed by update_id
 * (duplicates acknowledged without effect), one query, one sendMessage. Nothing else.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { Telegraf } from 'telegraf';
import type { Update, UserFromGetMe } from 'telegraf/types';
import type { Sql } from '../lib/db/client.js';

export interface BaselineRequest {
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

export function createBaselineBot(opts: { db: Sql; token: string; apiRoot: string; secret: string }) {
  const { db } = opts;
  const bot = new Telegraf(opts.token, { telegram: { apiRoot: opts.apiRoot, webhookReply: false } });
  bot.botInfo = { id: 123456, is_bot: true, first_name: 'Baseline', username: 'DianaTestBot' } as UserFromGetMe;
  const balanceOf = async (telegramId: number) => {
    const [row] = await db<{ besitos: number }[]>`
      SELECT b.besitos FROM users u JOIN user_balances b ON b.user_id = u.id WHERE u.telegram_id = ${telegramId}`;
    return row?.besitos ?? 0;
  };
  bot.command(['daily', 'balance', 'history', 'start'], async (ctx) => {
    await ctx.reply(`Tienes ${await balanceOf(ctx.from.id)} besitos`);
  });
  bot.on('callback_query', async (ctx) => {
    await ctx.reply(`Tienes ${await balanceOf(ctx.from.id)} besitos`);
  });
  const expected = createHash('sha256').update(opts.secret).digest();

  return async function handle(req: BaselineRequest): Promise<{ status: number; body: string }> {
    const header = req.headers['x-telegram-bot-api-secret-token'];
    const got = typeof header === 'string' ? header : '';
    if (!got || !timingSafeEqual(expected, createHash('sha256').update(got).digest())) return { status: 401, body: 'unauthorized' };
    const update = req.body as Update;
    if (!update || typeof update.update_id !== 'number') return { status: 400, body: 'bad update' };
    const inserted = await db`
      INSERT INTO telegram_updates (update_id, kind, status) VALUES (${update.update_id}, 'baseline', 'done')
      ON CONFLICT (update_id) DO NOTHING RETURNING update_id`;
    if (inserted.length === 0) return { status: 200, body: 'duplicate' };
    await bot.handleUpdate(update);
    return { status: 200, body: 'ok' };
  };
}
