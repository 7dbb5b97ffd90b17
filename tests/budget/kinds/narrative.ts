import { expect } from 'vitest';
import { buttonsOf } from '../../support/users.js';
import { callbackUpdate, textUpdate } from '../../support/updates.js';
import type { UpdateKind } from '../harness.js';
import type { BudgetHarness } from '../harness.js';

/** Brings the user to the sample story's first decision (portal) and keeps its first button. */
async function toFirstDecision(h: BudgetHarness) {
  h.telegram.reset();
  await h.post(textUpdate(h.tg, '/historia'));
  const cont = buttonsOf(h.telegram.callsOf('sendMessage').at(-1)).find((d) => d.startsWith('h:c:'))!;
  await h.post(callbackUpdate(h.tg, cont));
  h.memo.decision = buttonsOf(h.telegram.callsOf('sendMessage').at(-1)).find((d) => d.startsWith('h:d:'))!;
}

/** The story (lib/narrative, lib/bot/features/historia.ts, trivia.ts). */
export const kinds: UpdateKind[] = [
  {
    name: '/historia (continue)',
    budget: { sql: 3, kv: 0, botApi: 1 },
    prepare: toFirstDecision,
    update: (h) => textUpdate(h.tg, '/historia'),
    check: (_h, calls) => expect(buttonsOf(calls.find((c) => c.method === 'sendMessage')).some((d) => d.startsWith('h:d:'))).toBe(true),
  },
  {
    name: 'story decision (button)',
    // The update's inbox (2) and state load (1); the move's transaction (9, begin/commit included: the
    // action, the user's lock, progress read, the reward, the events, the progress, the action's result);
    // the after-commit relay (2). Bot API: the notice, the old buttons removed, the next fragment.
    budget: { sql: 12, kv: 0, botApi: 2 }, // issue 18: the spinner answer in the webhook response; the relay's claim in the completion
    prepare: toFirstDecision,
    update: (h) => callbackUpdate(h.tg, h.memo.decision!),
    check: (_h, calls) => expect(calls.map((c) => c.method)).toEqual(['editMessageReplyMarkup', 'sendMessage', 'answerCallbackQuery']),
  },
];
