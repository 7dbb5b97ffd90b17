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
  {
    name: 'ranking «Anónimo» (button)',
    // The choice is the command ranking.visibility (begin, action, UPDATE users.metadata, result, commit: 5),
    // then the board redrawn as the board button does (the names: 1 statement; 4 commands at once);
    // the notice rides in the webhook response (issue 18).
    budget: { sql: 8, kv: 4, botApi: 1 },
    prepare: async (h) => void (await h.post(textUpdate(h.tg, '/ranking'))),
    update: (h) => callbackUpdate(h.tg, 'rk:n:1:w'),
    check: async (h, calls) => {
      expect(calls.map((c) => c.method)).toEqual(['editMessageText', 'answerCallbackQuery']);
      expect(calls[1]!.payload.text).toBe('Listo: en el ranking apareces como «Anónimo».');
      expect(buttonsOf(calls[0])).toEqual(['rk:w', 'rk:a', 'rk:n:0:w']);
      const [row] = await h.db<{ anonymous: boolean }[]>`SELECT (metadata->>'ranking_anonymous')::boolean AS anonymous FROM users WHERE id = ${await h.userId()}`;
      expect(row?.anonymous).toBe(true);
    },
  },
];
