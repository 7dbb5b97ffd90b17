import { eventsHandler } from '../_lib/http.js';

/**
 * QStash subscriber "scheduler": a scheduled job's trigger (system.job_due), published with
 * Upstash-Not-Before at the job's time. Signature verified on the raw body; the job runs if it is due
 * (lib/scheduler). Routing: lib/bus/subscriptions.ts.
 */
export default eventsHandler('scheduler');
