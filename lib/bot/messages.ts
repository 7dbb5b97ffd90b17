import { escapeHtml } from './html.js';

/** Every text the bot sends. Spanish is the default (and, for now, only) locale. */
const dateFmt = (tz: string) =>
  new Intl.DateTimeFormat('es-MX', { timeZone: tz, day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
const fullFmt = (tz: string) =>
  new Intl.DateTimeFormat('es-MX', { timeZone: tz, weekday: 'long', day: 'numeric', month: 'long', hour: '2-digit', minute: '2-digit' });

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
  banned: () => 'Tu cuenta está suspendida. Si crees que es un error, contacta al equipo.',
};

export type Messages = typeof es;
