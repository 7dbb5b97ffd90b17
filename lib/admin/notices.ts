/** Spanish texts the admin module sends by itself (scheduled reminders, expiry, channel setup). */
const dayFmt = new Map<string, Intl.DateTimeFormat>();
function day(at: Date, tz: string): string {
  let f = dayFmt.get(tz);
  if (!f) dayFmt.set(tz, (f = new Intl.DateTimeFormat('es-MX', { day: 'numeric', month: 'long', hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone: tz })));
  return f.format(at);
}

export const vipNotices = {
  expiring: (days: number, end: Date, tz: string) =>
    `⏳ Tu acceso VIP termina ${days <= 1 ? '<b>mañana</b>' : `en <b>${days} días</b>`} (${day(end, tz)}). Para no perderlo, renuévalo en /vip.`,
  expired: () => '⌛ Tu acceso VIP terminó. ¡Gracias por acompañarnos! Cuando quieras volver, hazte VIP de nuevo con /vip.',
};
