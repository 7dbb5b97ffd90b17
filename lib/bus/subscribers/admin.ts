import { fromHandlers } from './types.js';

/**
 * Administration's reactions to subscriptions, channel membership and auctions (reminders, access
 * changes). The admin module registers its handlers here; until then deliveries are only recorded.
 */
export const adminSubscriber = fromHandlers({});
