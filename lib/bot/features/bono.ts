import { Composer } from 'telegraf';
import { grantBesitos } from '../../besitos/ledger.js';
import { bonusExpiry } from '../../besitos/lots.js';
import { economyPolicy } from '../../besitos/policy.js';
import { formatWhen } from '../../time/format.js';
import { escapeHtml } from '../html.js';
import type { BotContext } from '../context.js';
import { isAdmin, resolveUser } from './vip-admin.js';

/**
 * /bono N [@usuario | id | #interno] — admins grant bonus besitos of a special event (source
 * 'event:bono', lib/besitos/policy.ts): they expire `bonus.expireDays` days later if unspent. Without a
 * user, to the admin themself (to try it on the chat page with the clock control). Keyed by the
 * update, so a redelivered /bono grants once.
 */
export const bonoFeature = new Composer<BotContext>();

const usage = () =>
  '🎉 <b>Besitos bonus</b> (administración)\n\n' +
  '<code>/bono 50 @usuario</code> da 50 besitos bonus a esa persona; <code>/bono 50</code>, a ti.\n' +
  `Caducan a los ${economyPolicy.bonus.expireDays} días si no se usan (se avisa ${economyPolicy.bonus.warnDaysBefore} días antes) y se gastan primero.`;

bonoFeature.command('bono', async (ctx) => {
  if (!isAdmin(ctx)) return ctx.reply(ctx.t.forbidden());
  const me = ctx.state.user;
  if (!me) return;
  const [, amountText, ref] = ctx.message.text.trim().split(/\s+/);
  const amount = Number(amountText);
  if (!amountText || !Number.isSafeInteger(amount) || amount < 1 || amount > 100_000) return ctx.reply(usage(), { parse_mode: 'HTML' });
  const target = ref ? await resolveUser(ctx, ref) : { id: me.id, telegramId: me.telegramId, username: me.username, firstName: me.firstName };
  if (!target) return ctx.reply(`No encuentro a ${escapeHtml(ref!)}: tiene que haber hablado con el bot antes.`, { parse_mode: 'HTML' });
  const now = ctx.deps.clock();
  const tz = ctx.deps.settings.timeZone;
  const r = await grantBesitos(ctx.deps.db, {
    userId: target.id,
    amount,
    source: 'event:bono',
    idempotencyKey: `bono:${ctx.update.update_id}`,
    description: 'Besitos bonus de un evento',
    metadata: { by: me.id },
    bonus: true,
    now,
    timeZone: tz,
  });
  const until = formatWhen(bonusExpiry(now), tz, now, { zone: true });
  const self = target.id === me.id;
  const who = self ? 'ti' : target.username ? `@${escapeHtml(target.username)}` : escapeHtml(target.firstName ?? `#${target.id}`);
  await ctx.reply(`🎉 ${self ? 'Recibiste' : `Diste a ${who}`} <b>${amount} besitos bonus</b>. Caducan ${until} si no se usan.`, { parse_mode: 'HTML' });
  if (!self && target.telegramId && !r.replayed)
    await ctx.telegram
      .sendMessage(target.telegramId, `🎉 ¡Recibiste <b>${amount} besitos bonus</b> de un evento especial!\nSe gastan primero y caducan ${until} si no los usas.`, { parse_mode: 'HTML' })
      .catch((err) => ctx.deps.log.info({ msg: 'bono: receiver not told', error: String(err) }));
});
