import type { AppOverrides } from '../lib/app.js';

/**
 * The changes of issue 18 a same-run comparison can switch off (BENCH_VARIANT_OFF, comma-separated),
 * each back to the way it was before, as app overrides. bench/webhook-server.ts and bench/webhook-ab.ts
 * build their "without" side with it.
 */
const SWITCHES = {
  // The inbox claim and the user-state load as two statements.
  'claim-state': { webhook: { claimWithState: undefined } },
  // Every handled update marked done by its own statement.
  'group-done': { webhook: { complete: undefined } },
  // The callback answer sent as its own request.
  'webhook-reply': { webhook: { webhookReply: undefined } },
  // Bot API calls through telegraf's node-fetch client.
  'lean-transport': { leanTelegramTransport: false },
  // The after-commit relay claims its rows in a transaction (4 statements).
  'relay-lease': { bus: { afterCommitInTransaction: true } },
  // QStash requests through the client's own fetch (undici).
  'lean-qstash': { bus: { leanQStashHttp: false } },
  // The after-commit relay claims its rows with a statement of its own, not in the completion.
  'done-claim': { bus: { claimWithCompletion: false } },
  // Commands in their transaction protocol only (a granted /daily in 6 statements, not 1).
  'one-statement': { oneStatementCommands: false },
} satisfies Record<string, AppOverrides>;

export function variantOverrides(off: Iterable<string>): AppOverrides {
  const out: AppOverrides & { bus: object; webhook: object } = { bus: {}, webhook: {} };
  for (const name of off) {
    const sw = (SWITCHES as Record<string, AppOverrides>)[name];
    if (!sw) throw new Error(`BENCH_VARIANT_OFF: unknown change ${name} (known: ${Object.keys(SWITCHES).join(', ')})`);
    Object.assign(out, { ...sw, bus: { ...out.bus, ...sw.bus }, webhook: { ...out.webhook, ...sw.webhook } });
  }
  return out;
}
