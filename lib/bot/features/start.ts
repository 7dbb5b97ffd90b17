import { Composer } from 'telegraf';
import type { BotContext } from '../context.js';

const PAYLOAD = /^[A-Za-z0-9_-]{1,64}$/;

/** /start, with an optional deep-link payload (t.me/<bot>?start=<payload>) kept on first contact. */
export const startFeature = new Composer<BotContext>();

startFeature.start(async (ctx) => {
  const user = ctx.state.user;
  const payload = ctx.payload?.trim();
  if (user && payload && PAYLOAD.test(payload)) {
    await ctx.deps.db`
      UPDATE users SET metadata = metadata || jsonb_build_object('start_payload', ${payload}::text)
       WHERE id = ${user.id} AND deleted_at IS NULL AND NOT (metadata ? 'start_payload')`;
  }
  await ctx.reply(ctx.t.welcome(user?.firstName ?? null, user?.created ?? false), { parse_mode: 'HTML' });
});
