import type { EconomyDashboard } from '../economy/dashboard.js';
import type { FlagRow } from '../economy/repository.js';
import type { RollbackResult } from '../economy/commands.js';
import type { MovementPreview, RollbackOutcome } from '../besitos/rollback.js';
import { flagLine, num, sourceName } from '../economy/texts.js';
import { escapeHtml } from './html.js';

const shortDay = (d: string) => `${Number(d.slice(8, 10))}/${Number(d.slice(5, 7))}`;

/** /economia, /revertir (admins): the economy's dashboard, its alerts and rollbacks. */
export const economyMessages = {
  usage:
    '📊 <b>Economía</b> (solo administradores)\n\n' +
    '/economia [días] — resumen y gráfica de los últimos días (30 si no dices cuántos, hasta 366)\n' +
    '/economia alertas — alertas abiertas del detector de anomalías\n' +
    '/economia cerrar &lt;n.º de alerta&gt; — marcar una alerta como revisada\n' +
    '/revertir &lt;n.º de movimiento&gt; &lt;motivo&gt; — revertir un movimiento\n' +
    '/revertir &lt;fuente&gt; &lt;desde&gt; &lt;hasta&gt; &lt;motivo&gt; — revertir todas las concesiones de una fuente en un periodo ' +
    '(fechas AAAA-MM-DD o AAAA-MM-DDTHH:MM en la hora del bot; «hasta» un día incluye el día entero)',
  summary: (d: EconomyDashboard) => {
    const lines = [
      `📊 <b>Economía · ${shortDay(d.days[0]!)} – ${shortDay(d.days[d.days.length - 1]!)}</b> (${d.days.length} días)`,
      '',
      `💰 En circulación: <b>${num(d.supply.now)}</b> besitos en ${num(d.supply.holders)} cuentas`,
      `➕ Ganados: <b>${num(d.totals.earned)}</b> · ➖ Gastados: <b>${num(d.totals.spent)}</b>` +
        (d.reversed.total > 0 ? ` · ↩️ Revertidos: <b>${num(d.reversed.total)}</b>` : '') +
        (d.transferred.total > 0 ? ` · 🎁 Regalados entre usuarios: ${num(d.transferred.total)}` : ''),
      '',
      '<b>Por fuente</b>',
      ...(d.earned.length ? d.earned.map((s) => `• ${escapeHtml(sourceName(s.source))}: ${num(s.total)} (hoy ${num(s.perDay.at(-1)!)})`) : ['• nada en el periodo']),
      '',
      '<b>Por destino</b>',
      ...(d.spent.length ? d.spent.map((s) => `• ${escapeHtml(sourceName(s.source))}: ${num(s.total)} (hoy ${num(s.perDay.at(-1)!)})`) : ['• nada en el periodo']),
      '',
      '<b>Quienes más ganaron</b>',
      ...(d.topEarners.length
        ? d.topEarners.map((t, i) => `${i + 1}. ${escapeHtml(t.label)} — ${num(t.besitos)}${t.flagged ? ' 🚨' : ''}`)
        : ['nadie ganó besitos en el periodo']),
      '',
      d.flags.open > 0 ? `🚨 Alertas abiertas: <b>${d.flags.open}</b> — míralas con /economia alertas` : '✅ Sin alertas abiertas',
    ];
    return lines.join('\n');
  },
  chartCaption: (d: EconomyDashboard) =>
    `Besitos ganados (arriba, por fuente) y gastados (abajo, por destino) cada día; la línea es lo que hay en circulación. ${shortDay(d.days[0]!)} – ${shortDay(d.days[d.days.length - 1]!)}.`,
  chartFailed: '⚠️ No pude dibujar la gráfica esta vez; el resumen de arriba está completo.',
  badDays: 'Indica cuántos días quieres ver: un número del 1 al 366, p. ej. <code>/economia 7</code>.',
  flags: (total: number, flags: FlagRow[], label: (id: number) => string) =>
    total === 0
      ? '✅ No hay alertas abiertas.'
      : `🚨 <b>Alertas abiertas: ${total}</b>${total > flags.length ? ` (las ${flags.length} más recientes)` : ''}\n\n` +
        flags.map((f) => `• ${flagLine(f, label(f.userId))}`).join('\n') +
        '\n\nCierra una revisada con /economia cerrar &lt;n.º&gt;. Revertir besitos: /revertir.',
  flagClosed: (id: number) => `Listo: la alerta #${id} quedó cerrada.`,
  flagNotOpen: (id: number) => `La alerta #${id} no existe o ya estaba cerrada.`,
  badFlagId: 'Indica el número de la alerta, p. ej. <code>/economia cerrar 12</code>.',
  reasonNeeded: 'Escribe también el motivo (al menos 3 caracteres): queda en el registro de auditoría.',
  badWindow:
    'No entendí el periodo. Usa fechas AAAA-MM-DD o AAAA-MM-DDTHH:MM (hora del bot), «desde» antes que «hasta», p. ej. <code>/revertir trivia 2026-11-20 2026-11-21 error en la trivia</code>.',
  txNotFound: (id: number) => `No existe el movimiento #${id}.`,
  /** The window rollback's confirmation: what it would do now, what it could not take back. */
  rollbackPreview: (r: RollbackOutcome, what: string, reason: string, minutes: number, label: (id: number) => string = (id) => `#${id}`) => {
    const short = r.users.filter((u) => u.shortfall > 0);
    return [
      `↩️ <b>¿Revertir ${what}?</b>`,
      `Se revertirían <b>${num(r.rolledBack)}</b> concesiones de <b>${num(r.users.length)}</b> ${r.users.length === 1 ? 'usuario' : 'usuarios'}: ${num(r.amount)} besitos.` +
        (r.alreadyDone ? ` Otras ${num(r.alreadyDone)} ya estaban revertidas y no se tocan.` : ''),
      `Se recuperarían <b>${num(r.taken)}</b> besitos.`,
      ...(r.shortfall > 0
        ? [
            `⚠️ No se podrían recuperar <b>${num(r.shortfall)}</b> (ya gastados o apartados en pujas; ningún saldo queda en negativo):`,
            ...short.slice(0, 10).map((u) => `• ${escapeHtml(label(u.userId))}: faltarían ${num(u.shortfall)} de ${num(u.amount)}`),
            ...(short.length > 10 ? [`• … y ${num(short.length - 10)} más`] : []),
          ]
        : []),
      `Motivo: «${escapeHtml(reason)}»`,
      '',
      `Confirma en los próximos ${minutes} minutos. Los saldos pueden cambiar hasta entonces: la reversión cuenta de nuevo al hacerse.`,
    ].join('\n');
  },
  /** One movement's confirmation: who, how much, what could not be taken back; `refused`: no buttons, it cannot be done now. */
  movementPreview: (p: MovementPreview, reason: string, minutes: number, label: (id: number) => string = (id) => `#${id}`) => {
    const who = (id: number) => escapeHtml(label(id));
    const kind = p.type === 'grant' ? 'concesión' : p.type === 'spend' ? 'gasto' : p.type.startsWith('transfer') ? 'regalo' : 'movimiento';
    const lines = [`↩️ <b>¿Revertir el movimiento #${p.transactionId}?</b>`, `Es ${kind === 'concesión' ? 'una' : 'un'} ${kind} de «${escapeHtml(sourceName(p.source))}».`];
    for (const l of p.legs) {
      if (l.change > 0) lines.push(`• A ${who(l.userId)} se le devolverían <b>${num(l.change)}</b> besitos.`);
      else {
        const take = -l.change - l.shortfall;
        lines.push(`• A ${who(l.userId)} se le quitarían <b>${num(take)}</b> de ${num(-l.change)} besitos.`);
        if (l.shortfall > 0)
          lines.push(`⚠️ No se podrían recuperar <b>${num(l.shortfall)}</b> (ya gastados o apartados en pujas; ningún saldo queda en negativo).`);
      }
    }
    if (p.refused)
      return [
        ...lines,
        '',
        '⛔ Ahora no se puede revertir: quien lo recibió ya no tiene esos besitos disponibles, y un regalo se revierte entero o nada. No se tocó ningún saldo.',
      ].join('\n');
    return [
      ...lines,
      `Motivo: «${escapeHtml(reason)}»`,
      '',
      `Confirma en los próximos ${minutes} minutos. Los saldos pueden cambiar hasta entonces: la reversión cuenta de nuevo al hacerse.`,
    ].join('\n');
  },
  rollbackYes: '✅ Sí, revertir',
  rollbackNo: '✖️ Cancelar',
  rollbackCancelled: (what: string) => `Reversión cancelada (${what}). No se tocó ningún saldo.`,
  notReversible: 'Ese movimiento no se puede revertir: es una reversión, o el receptor de un regalo ya no tiene esos besitos.',
  rollbackDone: (r: RollbackResult, what: string, label: (id: number) => string = (id) => `#${id}`) => {
    if (r.found === 0) return `No hay nada que revertir: ${what} no tiene concesiones.`;
    if (r.rolledBack === 0)
      return `Nada que hacer: ${r.found === 1 ? 'ese movimiento ya se había revertido' : `las ${num(r.found)} concesiones de ${what} ya se habían revertido`}. No se tocó ningún saldo.`;
    const lines = [
      `↩️ <b>Reversión hecha</b> (${what})`,
      `Movimientos revertidos: ${num(r.rolledBack)}${r.alreadyDone ? ` (otros ${num(r.alreadyDone)} ya lo estaban)` : ''} · usuarios: ${num(r.usersTotal)}`,
      `Recuperados: <b>${num(r.taken)}</b> de ${num(r.amount)} besitos.`,
    ];
    if (r.shortfall > 0) {
      const short = r.users.filter((u) => u.shortfall > 0);
      lines.push(
        '',
        `⚠️ No se pudieron recuperar <b>${num(r.shortfall)}</b> besitos (ya gastados; ningún saldo queda en negativo):`,
        ...short.slice(0, 20).map((u) => `• ${escapeHtml(label(u.userId))}: faltaron ${num(u.shortfall)} de ${num(u.amount)}`),
        ...(short.length > 20 || r.usersTotal > r.users.length ? ['• … (la lista completa queda en el registro de la reversión)'] : []),
      );
    }
    return lines.join('\n');
  },
};
