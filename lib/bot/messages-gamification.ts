import type { AchievementView, MissionView } from '../gamification/index.js';
import type { Item, ItemCategory, Rarity } from '../gamification/catalogue.js';
import { progressBar, timeLeft } from '../gamification/rules.js';
import { escapeHtml } from './html.js';

const fmtN = (n: number) => n.toLocaleString('es-MX');
export const RARITY: Record<Rarity, string> = { common: '⚪ común', rare: '🔵 rara', epic: '🟣 épica', legendary: '🟡 legendaria' };
export const CATEGORY: Record<ItemCategory, string> = { cosmetic: '🎀 Cosméticos', narrative: '🗝️ Llaves y pistas', powerup: '⚡ Potenciadores' };
const MISSION_TYPE: Record<string, string> = { daily: 'Diaria', weekly: 'Semanal', narrative: 'Narrativa', special: 'Especial' };

const dateFmt = new Map<string, Intl.DateTimeFormat>();
function shortDate(d: Date, timeZone: string): string {
  let f = dateFmt.get(timeZone);
  if (!f) dateFmt.set(timeZone, (f = new Intl.DateTimeFormat('es-MX', { day: 'numeric', month: 'short', year: 'numeric', timeZone })));
  return f.format(d);
}

export const gm = {
  missions: (list: MissionView[], now: Date) => {
    if (list.length === 0) return '🎯 No hay misiones activas ahora mismo. Vuelve pronto.';
    const lines = list.map((m) => {
      const state = m.completed ? '✅ Cumplida' : m.endsAt ? `⏳ ${timeLeft(now, m.endsAt)}` : '';
      return `<b>${escapeHtml(m.title)}</b> · ${MISSION_TYPE[m.type] ?? m.type} · ${fmtN(m.reward)} besitos\n${escapeHtml(m.description)}\n${progressBar(m.progress, m.target)}  ${state}`;
    });
    return `🎯 <b>Tus misiones</b>\n\n${lines.join('\n\n')}`;
  },
  achievements: (list: AchievementView[], timeZone: string) => {
    const unlocked = list.filter((a) => a.unlockedAt);
    const next = list.filter((a) => !a.unlockedAt && !a.hidden);
    const u = unlocked.length
      ? unlocked.map((a) => `🏆 <b>${escapeHtml(a.title)}</b> — ${shortDate(a.unlockedAt!, timeZone)}`).join('\n')
      : 'Aún ninguno. ¡El primero está cerca!';
    const n = next.map((a) => `🔒 <b>${escapeHtml(a.title)}</b> (${RARITY[a.rarity]}, ${a.reward} besitos)\n${escapeHtml(a.description)}\n${progressBar(a.progress, a.target)}`);
    return `🏅 <b>Tus logros</b> (${unlocked.length} de ${list.length})\n\n${u}${n.length ? `\n\n<b>Próximos</b>\n${n.join('\n\n')}` : ''}`;
  },
  shopHome: (balance: number) => `🛍️ <b>Tienda de Diana</b>\nTienes <b>${fmtN(balance)} besitos</b>. Elige una sección:`,
  shopCategory: (category: ItemCategory, items: { item: Item; left: number | null }[], balance: number) => {
    if (items.length === 0) return `${CATEGORY[category]}\n\nNo hay nada en esta sección por ahora.`;
    const lines = items.map(({ item, left }) => {
      const stock = left === null ? '' : left === 0 ? ' · <b>agotado</b>' : ` · quedan ${left}`;
      return `<b>${escapeHtml(item.name)}</b> — ${fmtN(item.price)} besitos · ${RARITY[item.rarity]}${stock}\n${escapeHtml(item.description)}`;
    });
    return `${CATEGORY[category]} · tienes <b>${fmtN(balance)} besitos</b>\n\n${lines.join('\n\n')}`;
  },
  buyButton: (item: Item) => `${item.name} · ${fmtN(item.price)}`,
  back: '« Secciones',
  buyConfirm: (item: Item, balance: number) =>
    `¿Compras <b>${escapeHtml(item.name)}</b> por <b>${fmtN(item.price)} besitos</b>?\nTe quedarían ${fmtN(balance - item.price)}.`,
  yes: '✅ Comprar',
  no: '✖️ Cancelar',
  bought: (item: Item, balance: number) => `🛍️ ¡Compraste <b>${escapeHtml(item.name)}</b>! Te quedan <b>${fmtN(balance)} besitos</b>.\nEstá en tu /mochila.`,
  cancelled: 'Compra cancelada. No se movió nada.',
  refused: (reason: string, item: Item | undefined, balance: number) => {
    switch (reason) {
      case 'insufficient_funds':
        return `No te alcanza: ${item ? `cuesta ${fmtN(item.price)} y ` : ''}tienes ${fmtN(balance)} besitos. Gana más con /daily, /misiones y la historia.`;
      case 'sold_out':
        return `Lo siento, ${item ? `<b>${escapeHtml(item.name)}</b>` : 'ese objeto'} se agotó. No se te cobró nada.`;
      case 'limit_reached':
        return `Ya tienes el máximo de ${item ? `<b>${escapeHtml(item.name)}</b>` : 'ese objeto'} que se puede comprar.`;
      case 'auction_only':
        return `${item ? `<b>${escapeHtml(item.name)}</b>` : 'Ese objeto'} no se vende en la tienda: solo se gana en una subasta. Mira las abiertas con /subastas.`;
      case 'stale_version':
        return 'La tienda cambió mientras decidías (precio o catálogo nuevo). Mírala otra vez: /tienda';
      default:
        return 'Ese objeto ya no está a la venta. Mira la /tienda de nuevo.';
    }
  },
  backpack: (entries: { item: Item | undefined; key: string; quantity: number }[]) => {
    if (entries.length === 0) return '🎒 Tu mochila está vacía. Pasa por la /tienda.';
    const lines = entries.map(({ item, key, quantity }) =>
      item ? `<b>${escapeHtml(item.name)}</b> ×${quantity}${item.consumable ? ' · se puede usar' : ''}\n${escapeHtml(item.description)}` : `${escapeHtml(key)} ×${quantity} (ya no está en el catálogo)`,
    );
    return `🎒 <b>Tu mochila</b>\n\n${lines.join('\n\n')}`;
  },
  useButton: (item: Item) => `Usar ${item.name}`,
  used: (item: Item, effect: { kind: string; text?: string; fragment?: string }, until: Date | null, now: Date) => {
    if (effect.kind === 'trivia_multiplier' && until) return `⚡ <b>${escapeHtml(item.name)}</b> activo: tus trivias dan el doble durante ${timeLeft(now, until)}.`;
    if (effect.kind === 'clue') return `📜 <b>${escapeHtml(item.name)}</b>\n\n<i>${escapeHtml(effect.text ?? '')}</i>`;
    return `🗝️ Usaste <b>${escapeHtml(item.name)}</b>: se abrió un nuevo camino en la historia.`;
  },
  useRefused: (reason: string) =>
    reason === 'not_owned' ? 'Ya no te queda ese objeto (¿lo usaste en otro mensaje?). Mira tu /mochila.' : reason === 'not_consumable' ? 'Ese objeto no se usa: es para lucirlo.' : 'Ese objeto ya no existe.',
};
