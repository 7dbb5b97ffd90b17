import { noticeText } from '../gamification/auctions/notices.js';
import type { Auction, BidRefusal, BidResult, CreateRefusal } from '../gamification/auctions/index.js';
import { formatWhen } from '../time/format.js';
import { escapeHtml } from './html.js';

const n = (x: number) => x.toLocaleString('es-MX');
const b = (x: number) => `${n(x)} ${x === 1 ? 'besito' : 'besitos'}`;
const item = (name: string) => `<b>${escapeHtml(name)}</b>`;

/** Every text of the auctions (/subastas, /pujar, the admins' /subasta_nueva and /subasta_cancelar, notices). */
export const auctionMessages = {
  none: () => '🔨 No hay subastas abiertas ahora. Te avisaremos por aquí cuando empiece una… o vuelve a mirar con /subastas.',
  listTitle: () => '🔨 <b>Subastas abiertas</b>',
  line: (a: Auction, me: number, tz: string, now: Date) => {
    const head = `#${a.id} · ${item(a.itemName)}`;
    if (now < a.startsAt) return `${head}\n   Empieza ${formatWhen(a.startsAt, tz, now, { zone: true })} · puja mínima ${b(a.minBid)}`;
    const state =
      a.leaderBid === null
        ? `Sin pujas todavía · mínima ${b(a.minBid)}`
        : a.leaderId === me
          ? `✅ Vas ganando con ${b(a.leaderBid)}`
          : `Puja más alta: ${b(a.leaderBid)} · siguiente mínima ${b(a.leaderBid + a.increment)}`;
    return `${head}\n   ${state}\n   Termina ${formatWhen(a.endsAt, tz, now, { zone: true })}`;
  },
  listFooter: (spendable: number, held: number) =>
    `\nPuedes usar <b>${b(spendable)}</b>${held > 0 ? ` (${b(held)} apartados en tus pujas)` : ''}.\n` +
    'Toca un botón o escribe <code>/pujar 150</code> (o <code>/pujar #2 150</code> si hay varias). Tu puja se aparta de tu saldo y vuelve a ti si alguien te supera.',
  bidButton: (amount: number) => `🔨 ${n(amount)}`,
  pujarUsage: () =>
    'Escribe cuánto quieres pujar: <code>/pujar 150</code>, o <code>/pujar #2 150</code> para la subasta #2. Mira las abiertas con /subastas.',
  notANumber: (text: string) => `«${escapeHtml(text.slice(0, 20))}» no es una cantidad. Escribe solo el número de besitos, por ejemplo <code>/pujar 150</code>.`,
  whichAuction: () => 'Hay varias subastas abiertas: di cuál, por ejemplo <code>/pujar #2 150</code>. Están en /subastas.',
  bidPlaced: (r: BidResult, tz: string, now: Date) =>
    `✅ ¡Vas ganando ${item(r.itemName)} con <b>${b(r.amount)}</b>!` +
    (r.raisedOwn ? ' Tu puja anterior se reemplazó: solo se aparta esta.' : '') +
    `\n🔒 Apartamos ${b(r.amount)} de tu saldo; vuelven a ti si alguien te supera. Puedes usar ${b(r.spendable)}.` +
    (r.extended ? `\n⏱️ Como pujaste en los últimos 2 minutos, la subasta se alarga hasta ${formatWhen(new Date(r.endsAt), tz, now)}.` : '') +
    `\nTermina ${formatWhen(new Date(r.endsAt), tz, now, { zone: true })}.`,
  bidToast: (r: BidResult) => `✅ Vas ganando con ${b(r.amount)}${r.extended ? ' · la subasta se alargó 2 minutos' : ''}`,
  refused: (reason: BidRefusal | 'not_open', minimum: number) => {
    switch (reason) {
      case 'below_minimum':
        return `Tu puja es muy baja: la mínima ahora es ${b(minimum)}.`;
      case 'taken':
        return `Alguien pujó esa misma cantidad justo antes que tú. La mínima ahora es ${b(minimum)}.`;
      case 'already_leading':
        return `Ya vas ganando con esa cantidad. Para subir tu puja, la mínima es ${b(minimum)}.`;
      case 'not_started':
        return 'Esa subasta todavía no empieza. Mira cuándo en /subastas.';
      case 'closed':
      case 'not_open':
        return 'Esa subasta ya terminó. Mira las abiertas en /subastas.';
      default:
        return 'No encuentro esa subasta. Mira las abiertas en /subastas.';
    }
  },
  insufficient: (amount: number, spendable: number | null) =>
    `No te alcanza para pujar ${b(amount)}: puedes usar ${b(spendable ?? 0)}` +
    ' (lo apartado en otras pujas no cuenta). Gana más con /regalo, /misiones o /trivia.',
  notice: noticeText,
  // Admins
  adminUsage: () =>
    '<b>Crear una subasta</b>\n<code>/subasta_nueva objeto mínima incremento duración [inicio]</code>\n' +
    'Ejemplo: <code>/subasta_nueva corona-diana 100 10 2h</code> (empieza ya y dura 2 horas), o con inicio ' +
    '<code>18:30</code> o <code>2026-12-01 18:30</code> (hora local). Duración: <code>30m</code>, <code>2h</code>, <code>1d</code>, <code>1h30m</code> (de 5 minutos a 30 días).\n' +
    'Cancelar: <code>/subasta_cancelar 3</code>.',
  adminUnknownItem: (key: string, known: string[]) =>
    `No existe el objeto «${escapeHtml(key.slice(0, 48))}». Objetos del catálogo: ${known.slice(0, 20).map((k) => `<code>${escapeHtml(k)}</code>`).join(', ') || 'ninguno'}.`,
  adminBadNumber: (what: 'mínima' | 'incremento', text: string | undefined) =>
    `La ${what === 'mínima' ? 'puja mínima' : 'cantidad del incremento'} debe ser un número entero de besitos${text ? `, no «${escapeHtml(text.slice(0, 20))}»` : ''}.`,
  adminBadDuration: (text: string | undefined) =>
    `No entiendo la duración${text ? ` «${escapeHtml(text.slice(0, 20))}»` : ''}: usa por ejemplo <code>30m</code>, <code>2h</code>, <code>1d</code> o <code>1h30m</code>.`,
  adminBadStart: (text: string) => `No entiendo el inicio «${escapeHtml(text.slice(0, 30))}»: usa <code>18:30</code> o <code>2026-12-01 18:30</code> (hora local).`,
  adminRefused: (r: CreateRefusal) =>
    ({
      bad_min_bid: 'La puja mínima debe estar entre 1 y 1.000.000 besitos.',
      bad_increment: 'El incremento debe estar entre 1 y 1.000.000 besitos.',
      too_short: 'Una subasta dura al menos 5 minutos.',
      too_long: 'Una subasta dura como máximo 30 días.',
      starts_in_past: 'El inicio ya pasó: elige una hora futura o no pongas inicio para empezar ya.',
    })[r],
  adminCreated: (id: number, itemName: string, minBid: number, inc: number, startsAt: Date, endsAt: Date, tz: string, now: Date) =>
    `✅ Subasta #${id} creada: ${item(itemName)}, mínima ${b(minBid)}, de ${n(inc)} en ${n(inc)}.\n` +
    (startsAt > now ? `Empieza ${formatWhen(startsAt, tz, now, { zone: true })}. ` : 'Ya está abierta. ') +
    `Termina ${formatWhen(endsAt, tz, now, { zone: true })} (se alarga 2 minutos con cada puja de último momento).`,
  adminCancelUsage: () => 'Di qué subasta cancelar: <code>/subasta_cancelar 3</code> (el número está en /subastas).',
  adminCancelled: (id: number, itemName: string) => `✅ Subasta #${id} (${item(itemName)}) cancelada. Las pujas apartadas volvieron a sus dueños y les avisamos.`,
};
