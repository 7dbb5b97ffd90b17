import { escapeHtml } from './html.js';

/** Spanish texts of the story (/historia, /niveles, /trivia), spread into `es` in messages.ts. */
const n = (v: number) => `${v.toLocaleString('es-MX')} ${v === 1 ? 'besito' : 'besitos'}`;
const DIFFICULTY: Record<string, string> = { facil: 'fácil', media: 'media', dificil: 'difícil' };

export const storyMessages = {
  /** The fragment: who speaks, then the text (authored Telegram HTML). */
  storyFragment: (narrator: string, text: string, earned: number) =>
    `<b>${escapeHtml(narrator)}:</b>\n${text}` + (earned > 0 ? `\n\n💋 +${n(earned)}` : ''),
  storyLevelIntro: (number: number, title: string, intro: string) => `📖 <b>Nivel ${number} · ${escapeHtml(title)}</b>\n\n${intro}`,
  storyContinue: () => 'Continuar ▶️',
  storyRollDice: (emoji: string) => `${emoji} Lanzar`,
  storyRiddlePrompt: () => '✍️ Escribe tu respuesta en el chat.',
  storyEnding: () => '🏁 <b>Fin de este camino.</b> Mira tu avance con /niveles o responde una /trivia.',
  storySecret: () => '🔑 ¡Descubriste un secreto!',
  storyRelocated: () => '🧭 La historia cambió desde tu última visita: te llevamos a un lugar seguro para seguir.',
  storyPremiumPaid: (price: number) => `🔓 Desbloqueado por ${n(price)}.`,
  storyRiddleWrong: (hint: string | null, triesLeft: number | null) =>
    '❌ No es esa respuesta.' +
    (hint ? ` Pista: ${escapeHtml(hint)}` : '') +
    (triesLeft !== null ? ` Te ${triesLeft === 1 ? 'queda 1 intento' : `quedan ${triesLeft} intentos`}.` : ''),
  storyLocked: (title: string, reasons: string[]) => `🔒 <b>${escapeHtml(title)}</b> está cerrado.\n${reasons.map((r) => `• ${escapeHtml(r)}`).join('\n')}`,
  storyPremiumOffer: (title: string, price: number, balance: number) =>
    `🔒 <b>${escapeHtml(title)}</b> es un fragmento premium.\nCuesta <b>${n(price)}</b> y tienes ${n(balance)}. ¿Lo desbloqueas?`,
  storyPremiumYes: (price: number) => `🔓 Desbloquear (${n(price)})`,
  storyPremiumNo: () => 'Ahora no',
  storyPremiumDeclined: () => 'De acuerdo, sigue cuando quieras con /historia.',
  storyNotEnough: (price: number, balance: number) =>
    `💸 No te alcanza: cuesta ${n(price)} y tienes ${n(balance)}. Gana besitos con /daily o /trivia y vuelve a intentarlo.`,
  storyVipLocked: () => '👑 Este nivel es solo para VIP. Mira /vip para saber cómo serlo.',
  /** answerCallbackQuery notices (short). */
  storyNotice: {
    stale: 'Ese botón ya no está activo: ya elegiste. Sigue con /historia.',
    old_version: 'La historia se actualizó: usa /historia para seguir.',
    not_started: 'Empieza la historia con /historia.',
    unavailable: 'Esa opción no está disponible.',
    not_a_game: 'Ese juego ya no está activo.',
    foreign: 'Ese botón no es tuyo.',
    malformed: 'Botón no válido.',
  } as Record<string, string>,
  storyNothing: () => 'La historia no está disponible en este momento. Inténtalo más tarde.',
  levelsTitle: () => '🗺 <b>Tu mapa de la historia</b>',
  levelLine: (l: { number: number; title: string; vip: boolean; done: number; total: number; completed: boolean; reasons: string[] | null }) =>
    `${l.completed ? '✅' : l.reasons ? '🔒' : '🔓'} <b>Nivel ${l.number} · ${escapeHtml(l.title)}</b>${l.vip ? ' 👑' : ''} — ${l.done}/${l.total}` +
    (l.reasons ? `\n   ${l.reasons.map((r) => escapeHtml(r)).join(' ')}` : ''),
  levelsFooter: () => 'Sigue con /historia.',
  triviaQuestion: (question: string, difficulty: string, seconds: number) =>
    `❓ <b>Trivia</b> (${DIFFICULTY[difficulty] ?? difficulty})\n\n${escapeHtml(question)}\n\n⏱ Tienes ${seconds} segundos.`,
  triviaNone: () => 'No hay trivias nuevas por ahora. Avanza en /historia para desbloquear más.',
  triviaResult: (r: { correct: boolean; late: boolean; reward: number; answer: string; capped?: string | null }) =>
    (r.late
      ? `⌛ Llegó tarde: ${r.correct ? 'era correcta, pero' : 'y además'} pasó el tiempo. Sin premio esta vez.`
      : r.correct
        ? `✅ ¡Correcto!${r.reward ? ` +${n(r.reward)} 💋` : ''}`
        : `❌ La respuesta era «${escapeHtml(r.answer)}».${r.reward ? ` Te llevas ${n(r.reward)} por intentarlo.` : ''}`) +
    (r.capped ? `\n${escapeHtml(r.capped)}` : ''),
  triviaAnswered: (question: string, chosen: string) => `❓ ${escapeHtml(question)}\n\n➡️ ${escapeHtml(chosen)}`,
  triviaAlready: () => 'Ya respondiste esta pregunta.',
  triviaMore: () => 'Otra con /trivia.',
};
