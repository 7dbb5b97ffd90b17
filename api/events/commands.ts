import { eventsHandler } from '../_lib/http.js';

/**
 * QStash subscriber "commands": asynchronous commands (system.command_requested). Upstash-Signature
 * verified on the raw body (api/_lib/http.ts), the pending action executed once and its result sent
 * to the user (lib/commands/subscriber.ts). Routing: lib/bus/subscriptions.ts.
 */
export default eventsHandler('commands');
