import type { SubscriberName } from '../subscriptions.js';
import { adminSubscriber } from './admin.js';
import { auditSubscriber } from './audit.js';
import { commandsSubscriber } from './commands.js';
import { gamificationSubscriber } from './gamification.js';
import { narrativeSubscriber } from './narrative.js';
import type { SubscriberHandler } from './types.js';

export const subscriberHandlers: Record<SubscriberName, SubscriberHandler> = {
  audit: auditSubscriber,
  gamification: gamificationSubscriber,
  narrative: narrativeSubscriber,
  admin: adminSubscriber,
  commands: commandsSubscriber,
};

export type { SubscriberHandler, HandlerContext, Tx } from './types.js';
