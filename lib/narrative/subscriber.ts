import { fromHandlers } from '../bus/subscriber.js';

/**
 * The story's reactions to purchases, achievements and VIP status (routes: lib/bus/subscriptions.ts).
 * None yet: deliveries are recorded as processed. VIP status is read from users.status when a
 * condition is evaluated, so a subscription change needs no handler here.
 */
export const narrativeSubscriber = fromHandlers({});
