import { z } from 'zod';
import { auctionMessages } from '../../bot/messages-auctions.js';
import { jobHandlers, schedule, type JobHandler, type Tx } from '../../scheduler/index.js';

/** What an auction tells a user: outbid (hold released), won, lost, cancelled, leader gone, summary for the admin. */
export const auctionNotice = z.discriminatedUnion('kind', [
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
]);
export type AuctionNotice = z.output<typeof auctionNotice>;

const payload = z.object({ userId: z.number().int().positive(), notice: auctionNotice });

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
      await ctx.telegram.sendMessage(Number(user.telegram_id), auctionMessages.notice(p.notice, ctx.timeZone, ctx.now), { parse_mode: 'HTML' });
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
