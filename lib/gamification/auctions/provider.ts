import { registerErasureHook } from '../../users/privacy.js';
import { eraseBidder } from './index.js';

/**
 * /borrar of a bidder: holds released, leadership given up (the others told), bids unlinked from the
 * account. /exportar lists the user's own bids.
 */
registerErasureHook({
  name: 'auctions',
  erase: (tx, ids) => eraseBidder(tx, ids.userId, ids.now ?? new Date()),
  export: async (db, ids) => ({
    bids: await db`
      SELECT b.auction_id, a.item_name, b.amount, b.status, b.created_at
        FROM auction_bids b JOIN auctions a ON a.id = b.auction_id
       WHERE b.user_id = ${ids.userId} ORDER BY b.id`,
    holds: await db`SELECT amount, reference, status, void_reason, created_at, resolved_at FROM besitos_holds WHERE user_id = ${ids.userId} ORDER BY id`,
  }),
});
