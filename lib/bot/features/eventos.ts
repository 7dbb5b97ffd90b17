import { Composer } from 'telegraf';
import { recentEvents } from '../../bus/audit.js';
import type { BotContext } from '../context.js';

const LIMIT = 15;

interface Target {
  id: number;
  label: string;
}

/** A user by Telegram id (digits), internal id (#123) or @username. */
async function findUser(ctx: Pick<BotContext, 'deps'>, ref: string): Promise<Target | null> {
  const db = ctx.deps.db;
  let rows: { id: number; telegram_id: number | null; username: string | null; first_name: string | null }[] = [];
  if (/^\d{1,15}$/.test(ref)) {
    rows = await db`SELECT id, telegram_id, username, first_name FROM users WHERE telegram_id = ${Number(ref)}`;
  } else if (/^#\d{1,15}$/.test(ref)) {
    rows = await db`SELECT id, telegram_id, username, first_name FROM users WHERE id = ${Number(ref.slice(1))}`;
  } else if (/^@\w{1,64}$/.test(ref)) {
    rows = await db`SELECT id, telegram_id, username, first_name FROM users WHERE lower(username) = lower(${ref.slice(1)}) ORDER BY last_active_at DESC LIMIT 1`;
  }
  const u = rows[0];
  if (!u) return null;
  return { id: u.id, label: u.username ? `@${u.username}` : (u.first_name ?? `#${u.id}`) };
}

/** /eventos [telegram_id|@usuario|#id] [tipo]: recent events from the audit log (admins only). */
export const eventosFeature = new Composer<BotContext>();

eventosFeature.command('eventos', async (ctx) => {
  if (!ctx.from || !ctx.deps.settings.adminTelegramIds.includes(ctx.from.id)) {
    await ctx.reply(ctx.t.forbidden());
    return;
  }
  const args = ctx.message.text.trim().split(/\s+/).slice(1);
  if (args.length > 2 || args.some((a) => a.length > 80)) {
    await ctx.reply(ctx.t.eventosUsage(), { parse_mode: 'HTML' });
    return;
  }
  let target: Target | null = null;
  let type: string | undefined;
  for (const arg of args) {
    if (/^(@|#|\d)/.test(arg) && !target) {
      target = await findUser(ctx, arg);
      if (!target) {
        await ctx.reply(ctx.t.eventosUserNotFound(arg), { parse_mode: 'HTML' });
        return;
      }
    } else if (/^[a-z_]+(\.[a-z_]+)?$/.test(arg) && !type) {
      type = arg;
    } else {
      await ctx.reply(ctx.t.eventosUsage(), { parse_mode: 'HTML' });
      return;
    }
  }
  const events = await recentEvents(ctx.deps.db, { userId: target?.id, type, limit: LIMIT });
  if (events.length === 0) {
    await ctx.reply(ctx.t.eventosEmpty());
    return;
  }
  const tz = ctx.deps.settings.timeZone;
  const lines = events.map((e) => ctx.t.eventosLine(e, tz, !target));
  await ctx.reply(`${ctx.t.eventosTitle(target?.label ?? null, events.length)}\n\n${lines.join('\n')}`, { parse_mode: 'HTML' });
});
