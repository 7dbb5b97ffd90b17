import { escapeHtml } from './html.js';
import { usersMessages } from './messages-users.js';
import { storyMessages } from './messages-story.js';

/** Every text the bot sends. Spanish is the default (and, for now, only) locale. */
// Formatters are cached per zone: building an Intl.DateTimeFormat costs ~70 µs, formatting ~1 µs
// (/history formats ten lines per update; bench/webhook.ts profile).
const cachedFmt = (options: Intl.DateTimeFormatOptions) => {
  const byZone = new Map<string, Intl.DateTimeFormat>();
  return (tz: string) => {
    let f = byZone.get(tz);
    if (!f) byZone.set(tz, (f = new Intl.DateTimeFormat('es-MX', { ...options, timeZone: tz })));
    return f;
  };
};
const dateFmt = cachedFmt({ day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
const fullFmt = cachedFmt({ weekday: 'long', day: 'numeric', month: 'long', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });

export const SOURCE_LABELS: Record<string, string> = {
  daily: 'Regalo diario',
  gift: 'Regalo',
  mission: 'Misión',
  trivia: 'Trivia',
  reaction: 'Reacción',
  achievement: 'Logro',
  shop: 'Tienda',
  auction: 'Subasta',
  admin: 'Ajuste del equipo',
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
    `${isNew ? '¡Hola' : '¡Qué gusto verte de nuevo'}${name ? `, <b>${escapeHtml(name)}</b>` : ''}! 💋\n\n` +
    'Soy <b>Diana</b>. Aquí vivirás una historia que cambia con tus decisiones y ganarás <b>besitos</b>, ' +
    'la moneda de este mundo.\n\n' +
    '🎁 /daily — tu regalo diario\n💰 /balance — tus besitos\n📜 /history — tus movimientos\n❓ /help — todos los comandos',
  help: () =>
    '<b>Comandos de DianaBot</b>\n\n' +
    '/start — bienvenida\n' +
    '/daily — reclama tu regalo diario de besitos\n' +
    '/balance — consulta tus besitos\n' +
    '/history — tus últimos movimientos\n' +
    '/perfil — tu perfil\n' +
    '/historia — vive la historia (continúa donde la dejaste)\n' +
    '/niveles — tu mapa: niveles abiertos y cerrados\n' +
    '/trivia — responde una pregunta y gana besitos\n' +
    '/regalar N @usuario — regala besitos (o responde a un mensaje)\n' +
    '/actividad — tus últimas acciones\n' +
    '/privacidad — tus datos: exportar (/exportar) o borrar (/borrar)\n' +
    '/help — esta ayuda\n\n' +
    'Los besitos se ganan cada día y pronto con misiones, trivias y la historia. ¡No se pierden nunca!',
  balance: (besitos: number, lifetime: number) =>
    `💰 Tienes <b>${es.besitos(besitos)}</b>.\nEn total has ganado ${es.besitos(lifetime)}.`,
  dailyGranted: (amount: number, streak: number, balance: number | null, next: Date, tz: string) =>
    `🎁 ¡Recibiste <b>${es.besitos(amount)}</b>!` +
    (balance !== null ? ` Ahora tienes ${es.besitos(balance)}.` : '') +
    `\n🔥 Racha: <b>${streak} ${streak === 1 ? 'día' : 'días seguidos'}</b>` +
    `\n⏰ Tu próximo regalo estará listo el ${fullFmt(tz).format(next)}.`,
  dailyAlready: (streak: number, next: Date, tz: string) =>
    `Ya reclamaste tu regalo de hoy 😊\n🔥 Racha: <b>${streak} ${streak === 1 ? 'día' : 'días seguidos'}</b>` +
    `\n⏰ Vuelve el ${fullFmt(tz).format(next)}.`,
  historyEmpty: () => 'Todavía no tienes movimientos. Empieza con /daily 🎁',
  historyTitle: (more: boolean) => (more ? '📜 <b>Movimientos anteriores</b>' : '📜 <b>Tus últimos movimientos</b>'),
  historyLine: (e: { amount: number; source: string; type: string; createdAt: Date; balanceAfter: number }, tz: string) => {
    const label = e.type === 'reversal' ? `Anulación (${SOURCE_LABELS[e.source] ?? e.source})` : (SOURCE_LABELS[e.source] ?? e.source);
    const sign = e.amount > 0 ? '+' : '−';
    return `${dateFmt(tz).format(e.createdAt)} · ${escapeHtml(label)} · <b>${sign}${Math.abs(e.amount)}</b> (saldo ${e.balanceAfter})`;
  },
  historyMore: () => 'Más ▸',
  historyNoMore: () => 'No hay más movimientos.',
  unknownCommand: () => 'No conozco ese comando 🤔 Escribe /help para ver lo que puedo hacer.',
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
  eventosUserNotFound: (ref: string) => `No encontré a ningún usuario «${escapeHtml(ref)}».`,
  eventosEmpty: () => 'No hay eventos registrados para esa consulta.',
  eventosTitle: (who: string | null, count: number) =>
    `🗂 <b>Últimos ${count} eventos${who ? ` de ${escapeHtml(who)}` : ''}</b>`,
  eventosLine: (e: { type: string; occurredAt: Date; userId: number | null; data: Record<string, unknown> }, tz: string, showUser: boolean) => {
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
    return `${dateFmt(tz).format(e.occurredAt)} · ${escapeHtml(label)}${showUser && e.userId !== null ? ` · #${e.userId}` : ''}${detail ? ` · ${detail}` : ''}`;
  },
  ...usersMessages,
  ...storyMessages,
};

export type Messages = typeof es;
