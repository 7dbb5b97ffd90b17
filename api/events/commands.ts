import { eventsHandler } from '../../lib/bus/http.js';

/**
 * QStash subscriber "commands": asynchronous commands (system.command_requested). Upstash-Signature
 * verified on the raw body (lib/bus/http.ts), the pending action executed once and its result sent
 * to the user (lib/bus/subscribers/commands.ts). Routing: lib/bus/subscriptions.ts.
 */
export default eventsHandler('commands');
