import { expect } from 'vitest';
import { buttonsOf } from '../../support/users.js';
import { callbackUpdate, textUpdate } from '../../support/updates.js';
import type { UpdateKind } from '../harness.js';

/** Rankings (lib/gamification/ranking.ts, lib/bot/features/ranking.ts). */
export const kinds: UpdateKind[] = [
  {
    name: '/ranking',
    // The inbox (2) and state load (1), then the names of the top members (1). The board's marker, the
    // top, the user's rank and score: four commands sent at once (one round trip). Prepare builds the board.
    budget: { sql: 3, kv: 4, botApi: 1 },
    prepare: async (h) => void (await h.post(textUpdate(h.tg, '/ranking'))),
    update: (h) => textUpdate(h.tg, '/ranking'),
    check: (_h, calls) => {
      const sent = calls.find((c) => c.method === 'sendMessage');
      expect(String(sent?.payload.text)).toMatch(/Ranking semanal/);
      expect(buttonsOf(sent)).toEqual(['rk:w', 'rk:a', 'rk:n:1:w']);
    },
  },
  {
    name: 'ranking board (button)',
    budget: { sql: 3, kv: 4, botApi: 1 }, // issue 18: the spinner answer in the webhook response
    prepare: async (h) => void (await h.post(callbackUpdate(h.tg, 'rk:a'))),
    update: (h) => callbackUpdate(h.tg, 'rk:a'),
    check: (_h, calls) => {
      expect(calls.map((c) => c.method)).toEqual(['editMessageText', 'answerCallbackQuery']);
      expect(String(calls[0]!.payload.text)).toMatch(/Ranking histórico/);
    },
  },
];
