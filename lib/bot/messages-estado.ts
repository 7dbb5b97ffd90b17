import type { QueueJob, QueueSummary } from '../scheduler/index.js';
import { formatStamp } from '../time/format.js';
import { escapeHtml } from './html.js';

function duration(ms: number): string {
  const m = Math.round(Math.abs(ms) / 60_000);
  if (m < 1) return 'menos de un minuto';
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60 ? `${m % 60} min` : ''}`.trim();
  return `${Math.floor(h / 24)} días`;
}

function line(j: QueueJob, tz: string, now: Date): string {
  const name = `<code>${escapeHtml(j.key.slice(0, 60))}</code>`;
  if (j.state === 'running') return `• ${name} — en curso (intento ${j.attempts}, libre ${formatStamp(j.run_at, tz, now)})`;
  if (j.state === 'failed') {
    return `• ${name} — falló ${j.attempts} ${j.attempts === 1 ? 'vez' : 'veces'}: <i>${escapeHtml((j.last_error ?? 'sin detalle').slice(0, 200))}</i>`;
  }
  const late = now.getTime() - j.run_at.getTime();
  const when = late >= 0 ? `vencida hace ${duration(late)}` : formatStamp(j.run_at, tz, now);
  return `• ${name} — ${when}${j.attempts > 0 ? ` (reintento ${j.attempts + 1})` : ''}`;
}

/** /estado (admins): the scheduled jobs' queue. */
export const estadoMessages = {
  queue: (q: QueueSummary, tz: string, now: Date) => {
    const c = q.counts;
    const parts = [
      '🛠 <b>Tareas programadas</b>',
      `Vencidas sin ejecutar: <b>${c.due}</b> · Programadas: <b>${c.scheduled}</b> · En curso: <b>${c.running}</b> · Fallidas: <b>${c.failed}</b> · Hechas (7 días): <b>${c.done}</b>`,
    ];
    if (q.next.length) parts.push('', '<b>Próximas</b>', ...q.next.map((j) => line(j, tz, now)));
    if (q.running.length) parts.push('', '<b>En curso</b>', ...q.running.map((j) => line(j, tz, now)));
    if (q.failed.length) parts.push('', '<b>Fallidas</b>', ...q.failed.map((j) => line(j, tz, now)));
    if (!q.next.length && !q.running.length && !q.failed.length) parts.push('', 'No hay tareas pendientes.');
    return parts.join('\n');
  },
};
