import { fromHandlers } from './types.js';

/**
 * The story's reactions to purchases, achievements and VIP status. The narrative module registers
 * its handlers here when it lands; until then deliveries are only recorded as processed.
 */
export const narrativeSubscriber = fromHandlers({});
