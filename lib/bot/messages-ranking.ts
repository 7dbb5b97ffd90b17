import type { RankingView } from '../gamification/ranking.js';
import { isoWeekNumber } from '../gamification/rules-ranking.js';
import { escapeHtml } from './html.js';

const fmtN = (n: number) => n.toLocaleString('es-MX');
const MEDAL = ['🥇', '🥈', '🥉'];

function mondayLabel(monday: string): string {
  const [y, m, d] = monday.split('-').map(Number);
  return new Intl.DateTimeFormat('es-MX', { day: 'numeric', month: 'long', timeZone: 'UTC' }).format(new Date(Date.UTC(y!, m! - 1, d!)));
}

/** /ranking's texts (Spanish). */
export const rk = {
  board: (v: RankingView) => {
    const title =
      v.board === 'week'
        ? `🏆 <b>Ranking semanal</b> · semana ${isoWeekNumber(v.monday!)} (desde el lunes ${mondayLabel(v.monday!)})`
        : '🏆 <b>Ranking histórico</b>';
    const what =
      v.board === 'week'
        ? 'Besitos ganados esta semana. Los regalos entre personas no cuentan; el lunes empieza de cero.'
        : 'Besitos ganados desde siempre. Los regalos entre personas no cuentan.';
    const lines = v.top.map((r) => {
      const place = MEDAL[r.position - 1] ?? `${r.position}.`;
      const row = `${place} ${escapeHtml(r.name)} — ${fmtN(r.score)}`;
      return r.me ? `<b>${row} ← tú</b>` : row;
    });
    const body = lines.length ? lines.join('\n') : v.board === 'week' ? 'Nadie ha ganado besitos esta semana todavía. ¡Puedes ser la primera persona!' : 'Nadie ha ganado besitos todavía.';
    const mine = v.me
      ? `Tu puesto: <b>${fmtN(v.me.position)}</b> con <b>${fmtN(v.me.score)}</b> besitos.`
      : v.board === 'week'
        ? 'Aún no estás en el ranking de esta semana: gana besitos con /regalo, /misiones, /trivia o /historia.'
        : 'Aún no estás en el ranking: gana besitos con /regalo, /misiones, /trivia o /historia.';
    const note = v.source === 'postgres' ? '\n\n<i>Calculado al momento: el marcador rápido no está disponible ahora.</i>' : '';
    const privacy = v.anonymous
      ? 'En el ranking apareces como «Anónimo».'
      : 'En el ranking se muestra solo tu nombre de pila, nunca tu @usuario; puedes aparecer como «Anónimo».';
    return `${title}\n${what}\n\n${body}\n\n${mine}\n${privacy}${note}`;
  },
  weekButton: '📅 Semanal',
  hideButton: '🙈 Aparecer como «Anónimo»',
  showButton: '🙂 Mostrar mi nombre',
  nowAnonymous: 'Listo: en el ranking apareces como «Anónimo».',
  nowNamed: 'Listo: en el ranking se verá tu nombre de pila.',
  allButton: '🏛️ Histórico',
};
