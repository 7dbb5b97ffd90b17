import { Composer, Markup } from 'telegraf';
import { loadFullSections, stateProviders } from '../../users/state.js';
import { displayName } from '../../users/lookup.js';
import { expiringBonus, expiringLines } from '../../besitos/lots.js';
import type { BotContext } from '../context.js';
import { fitProfile, type Headed } from '../profile-fit.js';

/**
 * /perfil: the user's state, a headed section each — besitos (with the bonus that expires), then the
 * modules' sections (story, missions, achievements, backpack, ranking, invitations with the share
 * button, VIP) — within Telegram's message limit.
 */
export const perfilFeature = new Composer<BotContext>();

/** The order a reader expects (providers register in import order); sections not listed come last. */
const ORDER = ['💰 Besitos', '📖 Historia', '🎯 Misiones', '🏅 Logros', '🎒 Mochila', '🤝 Invitaciones', '🏆 Ranking', '⭐ VIP'];
const rank = (title: string) => (ORDER.includes(title) ? ORDER.indexOf(title) : ORDER.length);

perfilFeature.command(['perfil', 'profile'], async (ctx) => {
  const me = ctx.state.userState;
  if (!me) return;
  const now = ctx.deps.clock();
  const tz = ctx.deps.settings.timeZone;
  const values = await loadFullSections(ctx.deps.db, me, stateProviders, { kv: ctx.deps.kv, now, timeZone: tz });
  // Bonus besitos that expire: read only for users who hold some (state.bonusBesitos).
  const expiring = me.bonusBesitos > 0 ? await expiringBonus(ctx.deps.db, me.id) : [];
  const sections: Headed[] = [
    {
      title: ctx.t.profileBesitosTitle,
      body: ctx.t.profileBesitos({ besitos: me.besitos, lifetime: me.lifetimeBesitos, held: me.held, streak: me.streak, expiring: expiringLines(expiring, tz, now) }),
    },
  ];
  const extraButtons = [];
  for (const p of stateProviders.all()) {
    const value = values[p.key];
    if (value === null || value === undefined) continue;
    if (p.sections) sections.push(...p.sections(value));
    else {
      const body = p.render ? p.render(value) : null;
      if (body) sections.push({ title: p.title, body });
    }
    for (const b of p.buttons ?? []) extraButtons.push(Markup.button.callback(b.text, b.data));
  }
  sections.sort((a, b) => rank(a.title) - rank(b.title)); // stable: unknown titles keep their order, last
  const header = ctx.t.profile({ name: displayName(me), memberSince: me.createdAt, status: me.status, tz });
  const b = ctx.t.profileButtons;
  await ctx.reply(fitProfile(header, sections, ctx.t.profileCut), {
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
