import { z } from 'zod';
import { lazy } from '../../lazy.js';
import { formatWhen } from '../../time/format.js';
import { jobHandlers, schedule, type JobHandler, type Tx } from '../../scheduler/index.js';

/** What an auction tells a user: outbid (hold released), won, lost, cancelled, leader gone, summary for the admin. */
export const auctionNotice = lazy(() => z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('outbid'),
    auctionId: z.number().int(),
    itemName: z.string(),
    amount: z.number().int(),
    released: z.number().int(),
    minimum: z.number().int(),
    endsAt: z.iso.datetime(),
  }),
  z.object({ kind: z.literal('won'), auctionId: z.number().int(), itemName: z.string(), price: z.number().int(), tax: z.number().int() }),
  z.object({ kind: z.literal('lost'), auctionId: z.number().int(), itemName: z.string(), price: z.number().int() }),
  z.object({ kind: z.literal('no_winner'), auctionId: z.number().int(), itemName: z.string() }),
  z.object({ kind: z.literal('cancelled'), auctionId: z.number().int(), itemName: z.string() }),
  z.object({ kind: z.literal('leader_left'), auctionId: z.number().int(), itemName: z.string(), minimum: z.number().int() }),
  z.object({
    kind: z.literal('ended_admin'),
    auctionId: z.number().int(),
    itemName: z.string(),
    price: z.number().int(),
    tax: z.number().int(),
    bids: z.number().int(),
  }),
]));
export type AuctionNotice = z.output<typeof auctionNotice>;

const escapeHtml = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const b = (x: number) => `${x.toLocaleString('es-MX')} ${x === 1 ? 'besito' : 'besitos'}`;
const item = (name: string) => `<b>${escapeHtml(name)}</b>`;

/** The Spanish text of a notice (the bot's messages-auctions.ts shows the same through `notice`). */
export function noticeText(x: AuctionNotice, tz: string, now: Date): string {
  switch (x.kind) {
    case 'outbid':
      return (
        `🔔 Alguien superó tu puja por ${item(x.itemName)}: ahora va en <b>${b(x.amount)}</b>.\n` +
        `Tus ${b(x.released)} ya están libres otra vez. Para recuperar el primer lugar puja al menos ${b(x.minimum)} ` +
        `antes de ${formatWhen(new Date(x.endsAt), tz, now)}: /subastas`
      );
    case 'won':
      return (
        `🏆 ¡Ganaste la subasta de ${item(x.itemName)} por <b>${b(x.price)}</b>! Ya está en tu /mochila.\n` +
        `De lo que pagaste, ${b(x.tax)} (10%) se quemaron como comisión y el resto salió de circulación.`
      );
    case 'lost':
      return `🔨 La subasta de ${item(x.itemName)} terminó: ganó otra persona con ${b(x.price)}. Tus besitos apartados ya volvieron a tu saldo.`;
    case 'no_winner':
      return `🔨 La subasta de ${item(x.itemName)} terminó sin pujas válidas: nadie se la lleva esta vez.`;
    case 'cancelled':
      return `🔨 La subasta de ${item(x.itemName)} se canceló. Si tenías besitos apartados, ya volvieron a tu saldo.`;
    case 'leader_left':
      return `🔔 Quien iba ganando ${item(x.itemName)} ya no participa. ¡La subasta sigue abierta desde ${b(x.minimum)}!: /subastas`;
    case 'ended_admin':
      return `🔨 Subasta #${x.auctionId} (${item(x.itemName)}) terminada: ${x.bids} pujas, precio final ${b(x.price)}, ${b(x.tax)} quemados.`;
  }
}

const payload = lazy(() => z.object({ userId: z.number().int().positive(), notice: auctionNotice }));

/**
 * An auction's notice, sent by the scheduler: written in the transaction that causes it (unique key,
 * so scheduled once), delivered at once by the job's trigger and retried until Telegram takes it. The
 * recipient is looked up when it runs: a user who erased their data meanwhile gets nothing.
 */
export const auctionNoticeJob: JobHandler<z.output<typeof payload>> = {
  kind: 'auction.notice',
  payload,
  async run(tx, p, ctx) {
    if (!ctx.telegram) throw new Error('no Bot API client to send the auction notice');
    const [user] = await tx<{ telegram_id: number | null }[]>`SELECT telegram_id FROM users WHERE id = ${p.userId} AND deleted_at IS NULL`;
    if (!user?.telegram_id) return;
    try {
      await ctx.telegram.sendMessage(Number(user.telegram_id), noticeText(p.notice, ctx.timeZone, ctx.now), { parse_mode: 'HTML' });
    } catch (err) {
      const code = (err as { response?: { error_code?: number } }).response?.error_code;
      if (code === 403 || code === 400) return; // blocked the bot / chat gone: retrying cannot help
      throw err;
    }
  },
};

export function scheduleAuctionNotice(tx: Tx, key: string, userId: number, notice: AuctionNotice, now: Date): Promise<boolean> {
  return schedule(tx, { kind: auctionNoticeJob.kind, key: `auction.notice:${key}`, dueAt: now, payload: { userId, notice } });
}

jobHandlers.ensure(auctionNoticeJob);
