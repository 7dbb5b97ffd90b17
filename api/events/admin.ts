import { eventsHandler } from '../_lib/http.js';

/**
 * QStash subscriber "admin": Upstash-Signature verified on the raw body (read from the request stream,
 * never from the parsed req.body; see api/_lib/http.ts), then processed once per event
 * (lib/bus/receive.ts). Routing: lib/bus/subscriptions.ts.
 */
export default eventsHandler('admin');
