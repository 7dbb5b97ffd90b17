import { formatStamp, formatTime, formatWhen, theTime } from '../time/format.js';
import { escapeHtml } from './html.js';
import type { KeyboardEnd } from './keyboard.js';
import { nameHtml } from './reply.js';
import { usersMessages } from './messages-users.js';
import { reactionMessages } from './messages-reactions.js';
import { storyMessages } from './messages-story.js';

/** Every text the bot sends. Spanish is the default (and, for now, only) locale. */
export const SOURCE_LABELS: Record<string, string> = {
  daily: 'Regalo diario',
  gift: 'Regalo',
  mission: 'Misión',
  trivia: 'Trivia',
  reaction: 'Reacción',
  achievement: 'Logro',
  shop: 'Tienda',
  auction: 'Subasta',
  tax: 'Comisión de subasta (quemada)',
  admin: 'Ajuste del equipo',
  referral: 'Invitación',
};

/** Spanish names of the event types (seed §7.1), for admins (/eventos). */
export const EVENT_LABELS: Record<string, string> = {
  'narrative.fragment_started': 'Fragmento iniciado',
  'narrative.decision_made': 'Decisión tomada',
  'narrative.fragment_completed': 'Fragmento completado',
  'narrative.level_completed': 'Nivel completado',
  'narrative.secret_discovered': 'Secreto descubierto',
  'gamification.besitos_earned': 'Besitos ganados',
  'gamification.besitos_spent': 'Besitos gastados',
  'gamification.item_purchased': 'Compra en la tienda',
  'gamification.item_used': 'Objeto usado',
  'gamification.achievement_unlocked': 'Logro desbloqueado',
  'gamification.mission_assigned': 'Misión asignada',
  'gamification.mission_completed': 'Misión completada',
  'gamification.auction_won': 'Subasta ganada',
  'gamification.trivia_answered': 'Trivia respondida',
  'gamification.referral_recorded': 'Invitación registrada',
  'gamification.referral_refused': 'Invitación rechazada',
  'gamification.referral_rewarded': 'Invitación recompensada',
  'gamification.referral_not_rewarded': 'Invitación sin recompensa',
  'admin.subscription_started': 'Suscripción VIP iniciada',
  'admin.subscription_expiring': 'Suscripción por vencer',
  'admin.subscription_expired': 'Suscripción vencida',
  'admin.user_joined_channel': 'Entró al canal',
  'admin.user_left_channel': 'Salió del canal',
  'admin.content_published': 'Contenido publicado',
  'system.command_requested': 'Comando en segundo plano',
};

export const es = {
  besitos: (n: number) => `${n.toLocaleString('es-MX')} ${n === 1 ? 'besito' : 'besitos'}`,
  welcome: (name: string | null, isNew: boolean) =>
    `${isNew ? '¡Hola' : '¡Qué gusto verte de nuevo'}${name ? `, <b>${nameHtml(name)}</b>` : ''}! 💋\n\n` +
    'Soy <b>Diana</b>. Aquí vivirás una historia que cambia con tus decisiones y ganarás <b>besitos</b>, ' +
    'la moneda de este mundo.\n\n' +
    '🎁 /regalo — tu regalo diario\n💰 /saldo — tus besitos\n📜 /historial — tus movimientos\n❓ /ayuda — todos los comandos',
  help: () =>
    '<b>Comandos de DianaBot</b>\n\n' +
    '/start — bienvenida\n' +
    '/regalo — reclama tu regalo diario de besitos\n' +
    '/saldo — consulta tus besitos\n' +
    '/historial — tus últimos movimientos\n' +
    '/perfil — tu perfil\n' +
    '/historia — vive la historia (continúa donde la dejaste)\n' +
    '/niveles — tu mapa: niveles abiertos y cerrados\n' +
    '/trivia — responde una pregunta y gana besitos\n' +
    '/regalar N @usuario — regala besitos\n' +
    '/misiones — tus misiones diarias, semanales y especiales\n' +
    '/logros — tus logros y los próximos\n' +
    '/tienda — cosméticos, llaves y pistas, potenciadores\n' +
    '/mochila — tus objetos (y usarlos)\n' +
    '/subastas — subastas de objetos exclusivos; /pujar N para pujar\n' +
    '/actividad — tus últimas acciones\n' +
    '/privacidad — tus datos: exportar (/exportar) o borrar (/borrar)\n' +
    '/ayuda — esta ayuda\n\n' +
    'También entiendo los nombres en inglés: /daily, /balance, /history, /help.\n\n' +
    'Los besitos se ganan cada día y pronto con misiones, trivias y la historia. ' +
    'Se quedan en tu cuenta mientras la tengas: solo se pierden si borras tus datos con /borrar.',
  /** The default answer to text that is not a command (at most once every few minutes per user). */
  textHint: (name: string | null) =>
    `${name ? `¡Hola, ${nameHtml(name)}! ` : '¡Hola! '}💋 Por ahora converso con comandos y botones. ` +
    'Prueba uno de estos, o escribe /ayuda para verlos todos.',
  mainButtons: { daily: '🎁 Regalo diario', balance: '💰 Mis besitos', help: '❓ Ayuda' },
  balance: (besitos: number, lifetime: number, held = 0) =>
    `💰 Tienes <b>${es.besitos(besitos)}</b>.` +
    (held > 0 ? `\n🔒 ${es.besitos(held)} apartados en pujas de /subastas: puedes gastar <b>${es.besitos(besitos - held)}</b>.` : '') +
    `\nEn total has ganado ${es.besitos(lifetime)}.`,
  dailyGranted: (amount: number, streak: number, balance: number | null, next: Date, tz: string, now: Date) =>
    `🎁 ¡Recibiste <b>${es.besitos(amount)}</b>!` +
    (balance !== null ? ` Ahora tienes ${es.besitos(balance)}.` : '') +
    `\n🔥 Racha: <b>${streak} ${streak === 1 ? 'día' : 'días seguidos'}</b>` +
    `\n⏰ Tu próximo regalo estará listo ${formatWhen(next, tz, now, { zone: true })}.`,
  dailyAlready: (streak: number, next: Date, tz: string, now: Date) =>
    (streak === 0
      ? 'Hoy ya recibiste tu regalo diario 😊 Es uno por persona al día, también si borraste tus datos y volviste.'
      : `Ya reclamaste tu regalo de hoy 😊\n🔥 Racha: <b>${streak} ${streak === 1 ? 'día' : 'días seguidos'}</b>`) +
    `\n⏰ Vuelve ${formatWhen(next, tz, now, { zone: true })}.`,
  historyEmpty: () => 'Todavía no tienes movimientos. Empieza con /regalo 🎁',
  historyTitle: (more: boolean) => (more ? '📜 <b>Movimientos anteriores</b>' : '📜 <b>Tus últimos movimientos</b>'),
  /** One ledger line; `who` names the other person of a gift (shortened here). */
  historyLine: (
    e: { amount: number; source: string; type: string; createdAt: Date; balanceAfter: number },
    tz: string,
    now: Date,
    who?: string | null,
  ) => {
    let label = SOURCE_LABELS[e.source] ?? e.source;
    if (e.source === 'gift') {
      const incoming = e.type === 'reversal' ? e.amount < 0 : e.amount > 0;
      label = `${label} ${incoming ? 'de' : 'a'} ${who ? nameHtml(who, 24) : 'una cuenta eliminada'}`;
    } else label = escapeHtml(label);
    if (e.type === 'reversal') label = `Deshecho: ${label}`;
    const sign = e.amount > 0 ? '+' : '−';
    return `${formatStamp(e.createdAt, tz, now)} · ${label} · <b>${sign}${Math.abs(e.amount)}</b> (saldo ${e.balanceAfter})`;
  },
  historyMore: () => 'Más ▸',
  historyNoMore: () => 'No hay más movimientos.',
  historyNewer: () => '◂ Más recientes',
  unknownCommand: () => 'No conozco ese comando 🤔 Escribe /ayuda para ver lo que puedo hacer.',
  genericError: () => 'Algo salió mal de nuestro lado 😔 Inténtalo de nuevo en un momento.',
  invalidAmount: () => 'Esa cantidad no es válida. Usa un número entero positivo.',
  insufficientFunds: (needed: number, available: number | null) =>
    `No te alcanza: necesitas ${es.besitos(needed)}` + (available !== null ? ` y tienes ${es.besitos(available)}.` : '.'),
  forbidden: () => 'Ese comando es solo para administradores.',
  accountGone: () => 'Esa cuenta ya no existe (su dueño borró sus datos). No se movió nada.',
  banned: () => 'Tu cuenta está suspendida. Si crees que es un error, contacta al equipo.',
  eventosUsage: () =>
    'Uso: <code>/eventos [telegram_id|@usuario] [tipo]</code>\n' +
    'Sin usuario muestra los últimos eventos de todos. El tipo puede ser un módulo (<code>gamification</code>) o un tipo completo.',
  eventosUserNotFound: (ref: string) => `No encontré a ningún usuario «${nameHtml(ref)}».`,
  eventosEmpty: () => 'No hay eventos registrados para esa consulta.',
  eventosTitle: (who: string | null, count: number) =>
    `🗂 <b>Últimos ${count} eventos${who ? ` de ${nameHtml(who)}` : ''}</b>`,
  eventosLine: (e: { type: string; occurredAt: Date; userId: number | null; data: Record<string, unknown> }, tz: string, showUser: boolean, now: Date = new Date()) => {
    const label = EVENT_LABELS[e.type] ?? e.type;
    const d = e.data;
    let detail: string;
    if ((e.type === 'gamification.besitos_earned' || e.type === 'gamification.besitos_spent') && typeof d.amount === 'number') {
      const sign = e.type === 'gamification.besitos_earned' ? '+' : '−';
      const source = typeof d.source === 'string' ? (SOURCE_LABELS[d.source] ?? d.source) : '';
      detail = `<b>${sign}${d.amount}</b> · ${escapeHtml(source)}${d.reversal_of !== undefined ? ' (anulación)' : ''}` +
        (typeof d.balance_after === 'number' ? ` · saldo ${d.balance_after}` : '');
    } else {
      detail = escapeHtml(
        Object.entries(d)
          .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
          .join(', ')
          .slice(0, 120),
      );
    }
    return `${formatStamp(e.occurredAt, tz, now)} · ${escapeHtml(label)}${showUser && e.userId !== null ? ` · #${e.userId}` : ''}${detail ? ` · ${detail}` : ''}`;
  },
  /** Callback notice for a button whose moment has passed (lib/bot/keyboard.ts). */
  keyboardEnded: (reason: KeyboardEnd, deadline: Date | undefined, tz: string, now: Date): string => {
    switch (reason) {
      case 'done':
        return 'Esto ya está hecho ✅';
      case 'cancelled':
        return 'Esto ya se canceló.';
      case 'superseded':
        return 'Esta confirmación fue reemplazada por una más nueva ⤵️';
      case 'expired':
        return deadline ? `Esta confirmación caducó ${formatWhen(deadline, tz, now)} ⌛` : 'Esta confirmación caducó ⌛';
      case 'undoClosed':
        return deadline ? `El plazo para deshacer terminó a ${theTime(deadline, tz)} ⌛` : 'El plazo para deshacer ya terminó ⌛';
      case 'notYours':
        return 'Ese botón no es tuyo.';
      default:
        return 'Este botón ya no está activo. Vuelve a escribir el comando.';
    }
  },
  /** Appended to a confirmation replaced by a newer one (its buttons are removed). */
  keyboardSuperseded: () => '<i>↪️ Reemplazada por una confirmación más nueva.</i>',
  /** Appended to a confirmation closed at its deadline by the scheduler (lib/bot/keyboard.ts). */
  keyboardExpiredNote: (at: Date, tz: string) => `<i>⌛ Caducó a ${theTime(at, tz)}.</i>`,
  ...usersMessages,
  ...reactionMessages,
  ...storyMessages,
};

export type Messages = typeof es;
