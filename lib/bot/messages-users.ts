import { formatDate, formatStamp, theTime } from '../time/format.js';
import { escapeHtml } from './html.js';
import { nameHtml } from './reply.js';

/**
 * Spanish texts of the user-state features (/perfil, /regalar, /actividad, privacy, rate limits),
 * spread into `es` in messages.ts so that every text stays reachable as ctx.t.<name>.
 */
const n = (v: number) => `${v.toLocaleString('es-MX')} ${v === 1 ? 'besito' : 'besitos'}`;
const STATUS_LABELS: Record<string, string> = { free: 'Gratuita', vip: 'VIP ✨', banned: 'Suspendida' };

/** Why an async command failed, by the error's name (actions.error), in Spanish. */
const commandFailureReasons: Record<string, string> = {
  InsufficientFunds: 'no te alcanzan los besitos.',
  InvalidAmount: 'la cantidad no es válida.',
  InvalidCommandParams: 'la solicitud ya no es válida (quizá borraste tus datos mientras tanto).',
  AccountErased: 'tus datos ya no existen.',
};

export const usersMessages = {
  personalInPrivate: () => '🔒 Tus besitos, movimientos, actividad y perfil son solo tuyos: pídemelos en nuestro chat privado.',
  openPrivateChat: () => 'Abrir chat privado',
  personalButtonInPrivate: () => '🔒 Eso es personal: ábreme en privado para verlo.',
  buttonWithoutAccount: () =>
    'Este botón ya no hace nada para ti 🙂 Si borraste tus datos, ya están borrados. Escribe /start para empezar.',
  rateLimited: (seconds: number) =>
    `Vas muy rápido 😅 Espera ${seconds >= 120 ? `unos ${Math.round(seconds / 60)} minutos` : seconds > 60 ? 'un par de minutos' : seconds === 60 ? 'un minuto' : `${seconds} segundos`} y vuelvo a atenderte.`,

  // /perfil: a header, then one headed section per feature (besitos first; the modules' after it).
  profile: (p: { name: string | null; memberSince: Date; status: string; tz: string }) =>
    `👤 <b>${p.name ? nameHtml(p.name) : 'Tu perfil'}</b>\n` +
    `📅 Miembro desde: ${formatDate(p.memberSince, p.tz)} · 🎟 Cuenta: ${STATUS_LABELS[p.status] ?? p.status}`,
  profileBesitos: (p: { besitos: number; lifetime: number; held: number; streak: number; expiring: string[] }) =>
    `Besitos: <b>${n(p.besitos)}</b>\n` +
    `🏆 Ganados en total: ${n(p.lifetime)}\n` +
    (p.held > 0 ? `🔒 Reservados en pujas: ${n(p.held)}\n` : '') +
    `🔥 Racha diaria: ${p.streak === 0 ? 'sin racha (reclama /regalo)' : `${p.streak} ${p.streak === 1 ? 'día' : 'días seguidos'}`}` +
    (p.expiring.length ? `\n${p.expiring.join('\n')}` : ''),
  profileBesitosTitle: '💰 Besitos',
  /** Where a section was cut to keep the message within Telegram's limit. */
  profileCut: '…',
  profileButtons: { daily: '🎁 Regalo diario', history: '📜 Movimientos', activity: '🗂 Actividad', privacy: '🔒 Privacidad' },

  // /regalar
  /** In a private chat only the @usuario form is possible; in a group, replying to the person works too. */
  giftUsage: (inGroup = false) =>
    '🎁 <b>Regalar besitos</b>\n\n' +
    (inGroup
      ? 'Responde a un mensaje de la persona con <code>/regalar 10</code>, o escribe <code>/regalar 10 @usuario</code>.'
      : 'Escribe <code>/regalar 10 @usuario</code> con el @usuario de la persona. ' +
        'En un grupo también puedes responder a su mensaje con <code>/regalar 10</code>.'),
  giftBadAmount: () => 'La cantidad debe ser un número entero mayor que cero, por ejemplo <code>/regalar 5</code>.',
  giftTooMuch: (max: number) => `Puedes regalar como máximo ${n(max)} de una vez.`,
  giftSelf: () => 'No puedes regalarte besitos a tu propia cuenta 😉',
  giftToBot: () => 'Los bots no necesitan besitos 🤖 Elige a una persona.',
  giftUnknownUser: (ref: string) => `No conozco a ${nameHtml(ref)} 🤔 Esa persona tiene que haber hablado conmigo antes.`,
  giftNotEnough: (amount: number, have: number) => `No te alcanza: quieres regalar ${n(amount)} y tienes ${n(have)}.`,
  giftConfirm: (amount: number, to: string) => `¿Regalar <b>${n(amount)}</b> a <b>${nameHtml(to)}</b>?`,
  giftConfirmYes: () => '✅ Sí, regalar',
  giftConfirmNo: () => '✖️ Cancelar',
  giftCancelled: () => 'Regalo cancelado. No se movió nada.',
  /** `undoUntil`: the end of the undo window, named as a time so the text stays true after it (null: closed). */
  giftDone: (amount: number, to: string, left: number, undoUntil: Date | null, tz: string) =>
    `🎁 Le regalaste <b>${n(amount)}</b> a <b>${nameHtml(to)}</b>. Te quedan ${n(left)}.` +
    (undoUntil ? `\nPuedes deshacerlo hasta ${theTime(undoUntil, tz)}.` : ''),
  giftInProgress: () => 'Ese regalo ya se está enviando ⏳ Ya no se puede cancelar; si quieres, deshazlo después.',
  giftAlreadyDone: () => 'Ese regalo ya se había enviado 👍',
  giftReceived: (amount: number, from: string) => `💝 <b>${nameHtml(from)}</b> te regaló <b>${n(amount)}</b>.`,
  giftUndoButton: () => '↩️ Deshacer',
  giftUndone: (amount: number) => `↩️ Regalo deshecho: ${n(amount)} volvieron a tu cuenta.`,
  giftUndoneReceiver: (amount: number, from: string) => `↩️ ${nameHtml(from)} deshizo su regalo de ${n(amount)}.`,
  giftAlreadyUndone: () => 'Ese regalo ya estaba deshecho.',
  giftUndoSpent: () => 'No se puede deshacer: quien lo recibió ya usó esos besitos.',
  someone: () => 'alguien',
  /** The one message that sums up a sender's gifts and undos of a minute (lib/bot/gift-pacing.ts). */
  giftSummary: (from: string, w: { gifts: number; given: number; undos: number; takenBack: number }) => {
    const net = w.given - w.takenBack;
    const moves = [
      w.gifts ? `${w.gifts} ${w.gifts === 1 ? 'regalo' : 'regalos'} (${n(w.given)})` : null,
      w.undos ? `${w.undos} ${w.undos === 1 ? 'regalo deshecho' : 'regalos deshechos'} (${n(w.takenBack)})` : null,
    ].filter(Boolean);
    const result =
      net > 0 ? `En total recibiste <b>${n(net)}</b>.` : net < 0 ? `En total se retiraron <b>${n(-net)}</b> de tu cuenta.` : 'Al final tu saldo quedó igual.';
    return `📬 Resumen del último minuto con <b>${nameHtml(from)}</b>: ${moves.join(' y ')}.\n${result}`;
  },
  giftThrottled: (seconds: number, limit: number) =>
    `Vas muy rápido con los regalos ⏳ Puedes regalar o deshacer hasta ${limit} veces por minuto. Vuelve a intentarlo en ${seconds} s.`,

  // /actividad
  activityTitle: (more: boolean) => (more ? '🗂 <b>Actividad anterior</b>' : '🗂 <b>Tu actividad reciente</b>'),
  activityEmpty: () => 'Todavía no hay acciones registradas. Prueba /regalo o /regalar.',
  activityNoMore: () => 'No hay más actividad.',
  activityMore: () => 'Más ▸',
  activityLine: (a: { at: Date; label: string; outcome: string }, tz: string, now: Date) =>
    `${formatStamp(a.at, tz, now)} · ${escapeHtml(a.label)} · ${a.outcome}`,
  activityLabels: {
    gift: (amount: number, to: string | null) => `Regalo de ${n(amount)} a ${to ?? 'una cuenta eliminada'}`,
    giftUndo: () => 'Deshacer un regalo',
    daily: (amount: number) => `Regalo diario: +${n(amount)}`,
    dailyAlready: () => 'Regalo diario (ya reclamado ese día)',
    export: () => 'Exportación de tus datos',
    other: (name: string) => name,
  },
  activityOutcomes: { done: '✅ hecho', failed: '❌ no se pudo', undone: '↩️ deshecho', pending: '⏳ en curso' } as Record<string, string>,

  // Privacidad
  privacy: () =>
    '🔒 <b>Tus datos en DianaBot</b>\n\n' +
    '<b>Qué guardamos</b>\n' +
    '• Tu id de Telegram, nombre, usuario e idioma: para reconocerte y saludarte.\n' +
    '• Tus besitos y cada movimiento (regalos, compras, premios): es tu saldo y su historial.\n' +
    '• Tus acciones (por ejemplo, regalos) con fecha y resultado: para /actividad y para deshacer.\n' +
    '• Tu racha del regalo diario y tu avance en la historia.\n' +
    '• Datos temporales: conversaciones en curso (minutos) y límites de uso (un par de minutos).\n' +
    '• Un seudónimo antifraude: una huella cifrada de tu id de Telegram (con una clave que solo tiene el servidor; ' +
    'no contiene tu id ni tu nombre). Sirve solo para prevenir el fraude: que el regalo diario sea uno por persona al día, ' +
    'que los topes de besitos y los límites de uso sean por persona, y que los premios de primera vez (logros, misiones, ' +
    'historia, trivias, reacciones, invitaciones) se cobren una sola vez, también si borras tus datos y vuelves.\n\n' +
    '<b>Cuánto tiempo</b>\n' +
    'Mientras uses el bot. Los mensajes que nos manda Telegram se borran al procesarlos; si alguno no se ' +
    'pudo procesar, lo guardamos hasta 30 días para revisarlo (o hasta que uses /borrar). ' +
    'El seudónimo antifraude va con tu cuenta mientras la tengas; en el regalo diario se guarda como máximo 2 días, ' +
    'en los topes de besitos hasta 14 días y en los límites de uso un par de minutos. Si borras tus datos, se guarda ' +
    '180 días más, junto con qué premios de primera vez ya cobraste (sin nada más tuyo); después se borra y, si vuelves, ' +
    'eres una persona nueva. /borrar no lo borra antes, porque entonces borrar y volver daría premios nuevos cada vez.\n\n' +
    '<b>Tus derechos</b>\n' +
    '📦 /exportar — te mando un archivo con todos tus datos.\n' +
    '🗑 /borrar — borro tus datos personales. Los movimientos de besitos se conservan por auditoría, ' +
    'pero sin nada que los relacione contigo; si vuelves a escribir, empezarás de cero.',
  exportCaption: () => '📦 Aquí tienes todos tus datos en formato JSON.',
  /** `date`: YYYY-MM-DD in the bot's zone. */
  exportFileName: (date: string) => `dianabot-${date}.json`,
  exportPreparing: () => '⏳ Preparando tu archivo… Te lo mando en unos segundos.',
  exportPrivately: () => '🔒 Tus datos son solo tuyos: te mando el archivo por chat privado en unos segundos.',

  // Comandos asíncronos (lib/commands/subscriber.ts): el resultado llega después.
  commandNames: { export: 'la exportación de tus datos' } as Record<string, string>,
  commandDone: (what: string) => `✅ Listo: ${escapeHtml(what)}.`,
  commandFailed: (what: string, error: string | null) =>
    `❌ No pude completar ${escapeHtml(what)}: ${commandFailureReasons[error ?? ''] ?? 'algo salió mal. Inténtalo de nuevo en un rato.'}`,
  eraseConfirm: () =>
    '⚠️ <b>¿Borrar tus datos?</b>\n\nSe eliminarán tu nombre, usuario, conversaciones y el detalle de tus acciones. ' +
    'Tus besitos se perderán: si vuelves, empezarás como alguien nuevo. Esto no se puede deshacer.',
  eraseYes: () => '🗑 Sí, borrar todo',
  eraseNo: () => '✖️ No, conservar',
  eraseCancelled: () => 'No se borró nada 😊',
  eraseDone: () => '✅ Listo: tus datos personales se borraron. Gracias por haber pasado por aquí 💋',
};
