import type { ChannelRow } from '../admin/index.js';
import { NEEDED_RIGHTS } from '../admin/index.js';
import { escapeHtml } from './html.js';

const rights = (missing: string[]) =>
  missing.length ? `\n\n⚠️ Me faltan permisos: ${missing.map((r) => NEEDED_RIGHTS[r] ?? r).join('; ')}. Dámelos en la configuración de administradores del canal.` : '\n\n✅ Tengo todos los permisos que necesito.';

/** Spanish texts of channel administration. */
export const channelMessages = {
  freeButton: '🆓 Gratuito',
  vipButton: '⭐ VIP',
  askKind: (title: string, missing: string[]) =>
    `📣 Me agregaste como administrador de <b>${escapeHtml(title)}</b>. ¿Qué tipo de canal es?${rights(missing)}`,
  rightsChanged: (title: string, missing: string[]) => `Mis permisos en <b>${escapeHtml(title)}</b> cambiaron.${rights(missing)}`,
  refusedNotAdmin: (title: string) =>
    `Gracias por invitarme${title ? ` a <b>${escapeHtml(title)}</b>` : ''}, pero solo el equipo de DianaBot puede agregarme a canales, así que me retiro. 🙏`,
  kindSet: (title: string, kind: 'free' | 'vip', publicVip: boolean, missing: string[]) =>
    `Listo: <b>${escapeHtml(title)}</b> es un canal ${kind === 'vip' ? 'VIP: aprobaré las solicitudes de quienes tengan VIP activo y sacaré a quien venza' : 'gratuito'}.` +
    (publicVip
      ? '\n\n⚠️ Este canal es <b>público</b> (tiene @usuario): cualquiera puede entrar gratis sin pasar por mí. Para un canal de pago, hazlo privado y activa «Aprobar nuevos miembros».'
      : '') +
    (missing.length ? rights(missing) : ''),
  unknownChannel: 'No conozco ese canal (¿me quitaron de administrador?).',
  joinDeclined: (title: string) =>
    `Hola 👋 Tu solicitud para entrar a <b>${escapeHtml(title || 'el canal VIP')}</b> no se aprobó: es solo para miembros VIP.\n\nHazte VIP con /vip (Telegram Stars) y vuelve a pedir la entrada: te aprobaré al momento.`,
  notVip: 'El canal VIP es solo para miembros con VIP activo, así que te saqué. Hazte VIP con /vip y vuelve a entrar cuando quieras.',
  noChannels: 'Todavía no administro ningún canal. Agrégame como administrador de un canal y te preguntaré qué tipo es.',
  list: (channels: ChannelRow[]) =>
    '<b>Canales</b>\n\n' +
    channels
      .map(
        (c) =>
          `• <b>${escapeHtml(c.title ?? String(c.chat_id))}</b> — ${c.kind === 'vip' ? 'VIP' : c.kind === 'free' ? 'gratuito' : 'sin definir'}` +
          (c.bot_status === 'administrator' || c.bot_status === 'creator' ? '' : ' (ya no soy administrador)') +
          (c.missing_rights.length ? ` · faltan permisos: ${c.missing_rights.map((r) => NEEDED_RIGHTS[r] ?? r).join('; ')}` : '') +
          (c.kind === 'vip' && c.username ? ' · ⚠️ público: se entra gratis' : ''),
      )
      .join('\n'),
  joinButton: '🔑 Entrar al canal VIP',
};
