import type { Plan } from '../admin/index.js';
import { escapeHtml } from './html.js';

const dayFmt = new Map<string, Intl.DateTimeFormat>();
function day(at: Date, tz: string): string {
  let f = dayFmt.get(tz);
  if (!f) dayFmt.set(tz, (f = new Intl.DateTimeFormat('es-MX', { day: 'numeric', month: 'long', year: 'numeric', timeZone: tz })));
  return f.format(at);
}

/** The Spanish texts of VIP, payments and channel administration. */
export const vipMessages = {
  day,
  vipFree: (plans: Plan[]) =>
    `⭐ <b>VIP</b>\n\nCon VIP desbloqueas los niveles exclusivos de la historia y el canal VIP.\n\n` +
    plans.map((p) => `• <b>${escapeHtml(p.title)}</b> — ${p.stars} ⭐${p.kind === 'subscription' ? ' cada 30 días (cancela cuando quieras)' : ', un solo pago'}`).join('\n') +
    `\n\nSe paga con Telegram Stars. Condiciones: /terms · Ayuda con pagos: /paysupport`,
  vipActive: (o: { expiresAt: Date; renews: boolean; canceled: boolean; failed: boolean; plan: string }, tz: string) =>
    `⭐ <b>Eres VIP</b>\n\n` +
    (o.renews
      ? o.failed
        ? `⚠️ El último cobro de la renovación falló. Tu acceso dura hasta el <b>${day(o.expiresAt, tz)}</b>; revisa tu saldo de Stars.`
        : `Tu suscripción se renueva el <b>${day(o.expiresAt, tz)}</b>.`
      : o.canceled
        ? `Cancelaste la renovación: mantienes el acceso hasta el <b>${day(o.expiresAt, tz)}</b>.`
        : `Tu acceso dura hasta el <b>${day(o.expiresAt, tz)}</b>. Puedes ampliarlo con otro pago.`),
  buyButton: (p: Plan) => (p.kind === 'subscription' ? `⭐ ${p.title} · ${p.stars} ⭐/mes` : `🎟 ${p.title} · ${p.stars} ⭐`),
  payButton: (p: Plan) => `Pagar ${p.stars} ⭐`,
  subscriptionLink: (p: Plan) =>
    `⭐ <b>${escapeHtml(p.title)}</b>: ${p.stars} ⭐ cada 30 días.\nPulsa el botón para pagar con Telegram Stars. Puedes cancelar la renovación cuando quieras desde /vip.`,
  cancelRenewalButton: '✋ Cancelar renovación',
  resumeRenewalButton: '🔁 Reactivar renovación',
  renewalCanceled: (until: Date, tz: string) =>
    `Listo: tu suscripción no se renovará. Mantienes el acceso VIP hasta el <b>${day(until, tz)}</b>.`,
  renewalResumed: (until: Date, tz: string) => `Listo: tu suscripción volverá a renovarse el <b>${day(until, tz)}</b>.`,
  noRenewing: 'No tienes una suscripción que se renueve.',
  vipUnavailable: 'Los pagos no están disponibles ahora mismo. Inténtalo más tarde.',
  paymentStarted: (plan: string, until: Date, tz: string) =>
    `🎉 <b>¡Gracias! Ya eres VIP</b> (${escapeHtml(plan)}).\nTu acceso dura hasta el <b>${day(until, tz)}</b>. Mira tu estado en /vip.`,
  paymentExtended: (until: Date, tz: string) => `🎉 <b>¡Gracias!</b> Tu VIP se amplió hasta el <b>${day(until, tz)}</b>.`,
  paymentUnmatched:
    'Recibimos tu pago, pero no corresponde a ninguna factura nuestra vigente. No te preocupes: quedó registrado y el equipo lo revisará. Escribe /paysupport para reembolsos.',
  preCheckoutRefused: {
    tampered: 'Esta factura no es válida. Pide una nueva con /vip.',
    unknown_plan: 'Este plan ya no existe. Mira los planes actuales con /vip.',
    price_changed: 'El precio cambió desde que se creó esta factura. Pide una nueva con /vip.',
    currency: 'Solo aceptamos pagos en Telegram Stars.',
    banned: 'Tu cuenta está suspendida: no puedes hacer compras.',
  } as Record<string, string>,
  subscriptionCanceledByUser: (until: Date, tz: string) =>
    `Cancelaste la renovación de tu VIP. Mantienes el acceso hasta el <b>${day(until, tz)}</b>.`,
  subscriptionResumedByUser: (until: Date, tz: string) => `Tu VIP volverá a renovarse el <b>${day(until, tz)}</b>. ¡Gracias!`,
  subscriptionFailed: (until: Date, tz: string) =>
    `⚠️ No se pudo cobrar la renovación de tu VIP. Tu acceso dura hasta el <b>${day(until, tz)}</b>; para seguir, recarga Stars o suscríbete de nuevo con /vip.`,
  refundedToUser: 'Se te reembolsó un pago en Stars y tu acceso VIP terminó. Si crees que es un error, escribe /paysupport.',
  paysupport:
    '💬 <b>Soporte de pagos</b>\n\n' +
    'Si tienes un problema con un pago en Stars (un cobro que no te dio acceso, un cobro doble, una renovación que no querías), ' +
    'escríbenos aquí mismo explicando qué pasó y, si puedes, la fecha del pago. Un miembro del equipo te responderá y, si corresponde, te devolveremos las Stars.\n\n' +
    'Puedes cancelar la renovación de tu suscripción en cualquier momento desde /vip. Telegram no gestiona reclamaciones de compras dentro del bot: las atendemos nosotros.',
  terms:
    '📄 <b>Condiciones</b>\n\n' +
    '• El VIP da acceso a los niveles exclusivos de la historia y al canal VIP mientras esté activo.\n' +
    '• Se paga con Telegram Stars. La suscripción mensual se renueva cada 30 días hasta que la canceles en /vip; al cancelar conservas el acceso hasta el final del periodo pagado.\n' +
    '• El pase de 30 días es un pago único, sin renovación.\n' +
    '• Reembolsos: escríbenos con /paysupport; si el acceso no funcionó, te devolvemos las Stars. Un reembolso termina el acceso VIP.\n' +
    '• Si borras tu cuenta (/borrar), el VIP termina; conservamos solo los datos contables del pago (importe, fecha, identificador del cobro), sin tus datos personales.\n' +
    '• Podemos suspender cuentas que abusen del servicio.',
  // Admin
  adminUsage:
    '<b>Administración VIP</b>\n' +
    '/vip_admin estado &lt;usuario&gt; — estado y pagos\n' +
    '/vip_admin dar &lt;usuario&gt; &lt;días&gt; &lt;motivo&gt; — dar VIP a mano\n' +
    '/vip_admin quitar &lt;usuario&gt; &lt;motivo&gt; — quitar VIP\n' +
    '/vip_admin reembolsar &lt;id_del_cobro&gt; &lt;motivo&gt; — devolver un pago (termina el acceso)\n' +
    'Usuario: id de Telegram, @usuario o #id interno.',
  adminUserNotFound: (ref: string) => `No encontré al usuario ${escapeHtml(ref)}.`,
  adminReasonNeeded: 'Indica un motivo (al menos 3 caracteres): queda en el registro.',
  adminGranted: (label: string, until: Date, tz: string) => `✅ VIP dado a ${escapeHtml(label)} hasta el ${day(until, tz)}.`,
  adminRevoked: (label: string, done: boolean) => (done ? `✅ VIP quitado a ${escapeHtml(label)}.` : `${escapeHtml(label)} no tenía VIP activo.`),
  adminRefunded: (done: boolean) => (done ? '✅ Pago reembolsado; el acceso VIP terminó.' : 'Ese pago ya estaba reembolsado.'),
  adminUnknownCharge: 'No conozco ese cobro.',
  adminRefundFailed: (why: string) => `Telegram rechazó el reembolso: ${escapeHtml(why)}`,
  adminStatus: (
    label: string,
    vip: { status: string; plan: string; expiresAt: Date; recurring: boolean; renewalCanceled: boolean } | null,
    payments: { charge_id: string; amount: number; status: string; paid_at: Date }[],
    tz: string,
  ) =>
    `<b>${escapeHtml(label)}</b>\n` +
    (vip
      ? `VIP: ${vip.status} (${escapeHtml(vip.plan)}) hasta el ${day(vip.expiresAt, tz)}${vip.recurring ? (vip.renewalCanceled ? ', renovación cancelada' : ', se renueva') : ''}`
      : 'Sin VIP') +
    (payments.length
      ? `\n\nPagos:\n${payments.map((p) => `• ${day(new Date(p.paid_at), tz)} · ${p.amount} ⭐ · ${p.status} · <code>${escapeHtml(p.charge_id)}</code>`).join('\n')}`
      : ''),
  grantedToUser: (until: Date, tz: string) => `⭐ El equipo te dio acceso VIP hasta el <b>${day(until, tz)}</b>. ¡Disfrútalo!`,
  revokedToUser: 'Tu acceso VIP terminó por decisión del equipo. Si tienes dudas, escribe /paysupport.',
};
