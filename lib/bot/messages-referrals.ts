import type { RecordResult, ReferralSummary } from '../gamification/referrals.js';
import { DEFAULT_REFERRAL_DAILY_CAP, DEFAULT_REFERRAL_REWARDS } from '../gamification/rules-referral.js';
import { escapeHtml } from './html.js';

const { referee: FOR_YOU, referrer: FOR_THEM } = DEFAULT_REFERRAL_REWARDS;

/** Invitations' texts (Spanish). */
export const rf = {
  /** Added under the welcome of a /start that came with t.me/<bot>?start=ref_<code>. */
  recorded: (r: RecordResult) => {
    if (r.ok)
      return (
        `🤝 Llegaste por invitación de <b>${escapeHtml(r.referrerName)}</b>. Cuando completes tu primer fragmento de /historia ` +
        `o reclames tu primer /regalo, recibirás <b>${FOR_YOU} besitos</b> y quien te invitó, ${FOR_THEM}.`
      );
    switch (r.reason) {
      case 'self':
        return '🤝 Ese es tu propio enlace de invitación: compártelo con tus amistades (lo tienes en /invitar).';
      case 'unknown_code':
        return '🤝 Ese enlace de invitación no es válido o ya no existe; puedes jugar igual.';
      case 'already_referred':
        return '🤝 Ya llegaste con otra invitación: solo cuenta la primera.';
      case 'cycle':
        return '🤝 Esa invitación no cuenta: ya estáis enlazados por invitaciones en sentido contrario.';
      case 'not_new':
        return '🤝 Las invitaciones son para quien llega por primera vez, y tu cuenta ya existía: esta no cuenta, pero puedes invitar tú desde /invitar.';
    }
  },
  invite: (s: ReferralSummary, link: string) =>
    '📣 <b>Invita a tus amistades</b>\n\n' +
    `Tu enlace: ${escapeHtml(link)}\n\n` +
    `Cuando alguien llegue por primera vez con tu enlace y empiece a jugar (su primer fragmento de /historia o su primer /regalo), ` +
    `recibes <b>${FOR_THEM} besitos</b> y esa persona <b>${FOR_YOU}</b>. Cuentan hasta ${DEFAULT_REFERRAL_DAILY_CAP} invitaciones al día; ` +
    'invitarte a ti, a quien ya jugaba o a quien te invitó no cuenta.\n\n' +
    (s.invited ? `Llevas ${s.invited} invitación${s.invited === 1 ? '' : 'es'}: ${s.rewarded} ya juega${s.rewarded === 1 ? '' : 'n'} · ganaste ${s.earned} besitos.` : 'Aún no has invitado a nadie.'),
  shareButton: '📣 Compartir mi enlace',
  shareText: '¡Ven a jugar conmigo con Diana! Una historia que cambia con tus decisiones, y besitos de regalo al empezar 💋',
  noUsername: 'No puedo crear tu enlace ahora mismo (no conozco el nombre del bot). Inténtalo de nuevo en un momento.',
};
