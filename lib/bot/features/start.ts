import { Composer } from 'telegraf';
import { runCommand } from '../../commands/index.js';
import { recordReferralCommand, refereeIsNew, type RecordResult } from '../../gamification/referrals.js';
import { referralCodeFromPayload } from '../../gamification/rules-referral.js';
import type { BotContext } from '../context.js';
import { rf } from '../messages-referrals.js';

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
  // An invitation (ref_<code>): recorded or refused once per update (the command's key), said in the welcome.
  const code = referralCodeFromPayload(payload);
  let referral = '';
  if (user && code) {
    const now = ctx.deps.clock();
    const isNew = await refereeIsNew(ctx.deps.db, { userId: user.id, createdNow: user.created, person: ctx.state.person ?? null, now });
    const run = await runCommand(ctx.deps.db, recordReferralCommand, {
      userId: user.id,
      idempotencyKey: `${ctx.state.requestKey}:referral`,
      params: { code, isNew },
      now,
    });
    referral = `\n\n${rf.recorded(run.result as RecordResult)}`;
  }
  await ctx.reply(ctx.t.welcome(user?.firstName ?? null, user?.created ?? false) + referral, { parse_mode: 'HTML' });
});
