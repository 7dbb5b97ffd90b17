import { Composer, Markup } from 'telegraf';
import { loadFullSections, stateProviders } from '../../users/state.js';
import { displayName } from '../../users/lookup.js';
import { expiringBonus, expiringLines } from '../../besitos/lots.js';
import type { BotContext } from '../context.js';

/** /perfil: the user's state — besitos, lifetime, streak, member since, status, provider sections. */
export const perfilFeature = new Composer<BotContext>();

perfilFeature.command(['perfil', 'profile'], async (ctx) => {
  const me = ctx.state.userState;
  if (!me) return;
  const values = await loadFullSections(ctx.deps.db, me);
  const sections: string[] = [];
  const extraButtons = [];
  for (const p of stateProviders.all()) {
    const value = values[p.key];
    if (value === null || value === undefined) continue;
    const body = p.render ? p.render(value) : null;
    if (body) sections.push(`<b>${p.title}</b>\n${body}`);
    for (const b of p.buttons ?? []) extraButtons.push(Markup.button.callback(b.text, b.data));
  }
  // Bonus besitos that expire: read only for users who hold some (state.bonusBesitos).
  if (me.bonusBesitos > 0) {
    const lines = expiringLines(await expiringBonus(ctx.deps.db, me.id), ctx.deps.settings.timeZone, ctx.deps.clock());
    if (lines.length) sections.unshift(`<b>Besitos bonus</b>\n${lines.join('\n')}`);
  }
  const text = ctx.t.profile({
    name: displayName(me),
    besitos: me.besitos,
    lifetime: me.lifetimeBesitos,
    streak: me.streak,
    memberSince: me.createdAt,
    status: me.status,
    sections,
    tz: ctx.deps.settings.timeZone,
  });
  const b = ctx.t.profileButtons;
  await ctx.reply(text, {
    parse_mode: 'HTML',
    ...Markup.inlineKeyboard([
      [Markup.button.callback(b.activity, 'act:0'), Markup.button.callback(b.history, 'hist:0')],
      [Markup.button.callback(b.privacy, 'pv:info'), Markup.button.callback('🎁 Regalar', 'pf:gift')],
      ...(extraButtons.length ? [extraButtons] : []),
    ]),
  });
});

perfilFeature.action('pf:gift', async (ctx) => {
  await ctx.answerCbQuery();
  await ctx.reply(ctx.t.giftUsage(), { parse_mode: 'HTML' });
});
