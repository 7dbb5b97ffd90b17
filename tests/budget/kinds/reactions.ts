import { expect } from 'vitest';
import { callbackUpdate, nextUpdateId } from '../../support/updates.js';
import type { UpdateKind } from '../harness.js';

const CHANNEL = { id: -1_009_000_000_001, title: 'Diana', type: 'channel' as const };

/** Reaction rewards (lib/gamification/reactions.ts, lib/bot/features/reacciones.ts). */
export const kinds: UpdateKind[] = [
  {
    name: 'reaction button (first press, rewarded)',
    // Inbox (2) and state load (1); the post (1); the reaction's transaction (begin, the user's lock, the
    // row, the capped grant, the row's reward, the live count, commit); the after-commit relay of the
    // grant's event. kv: the post's edit slot (SET NX). Bot API: the notice and the count on the button.
    budget: { sql: 11, kv: 1, botApi: 1 }, // issue 18: the claim and the state load are one statement; the answer in the webhook response; the relay's claim in the completion
    prepare: async (h) => {
      const [post] = await h.db<{ id: string }[]>`
        INSERT INTO channel_posts (chat_id, text, status, publish_at, published_at, message_id)
        VALUES (${CHANNEL.id}, 'Nuevo capítulo', 'published', now(), now(), ${Math.floor(Math.random() * 1e6)}) RETURNING id, message_id`;
      const [row] = await h.db<{ message_id: string }[]>`SELECT message_id FROM channel_posts WHERE id = ${post!.id}`;
      h.memo.data = `rx:${post!.id}`;
      h.memo.messageId = String(row!.message_id);
    },
    update: (h) => {
      const u = callbackUpdate(h.tg, h.memo.data!, { messageId: Number(h.memo.messageId) });
      (u.callback_query.message as Record<string, unknown>).chat = CHANNEL;
      return u;
    },
    check: (_h, calls) => {
      expect(calls.map((c) => c.method)).toEqual(['editMessageReplyMarkup', 'answerCallbackQuery']);
      expect(String(calls[1]!.payload.text)).toMatch(/Gracias por reaccionar/);
    },
  },
  {
    name: 'group reaction (message_reaction, rewarded)',
    // Inbox (2) and state load (1); the reaction's transaction as above without the count; the relay. Nothing is sent.
    budget: { sql: 9, kv: 0, botApi: 0 }, // issue 18: the claim and the state load are one statement; the relay's claim in the completion
    update: (h) => ({
      update_id: nextUpdateId(),
      message_reaction: {
        chat: { id: -1_009_000_000_002, title: 'Fans', type: 'supergroup' },
        message_id: Math.floor(Math.random() * 1e6),
        user: { id: h.tg, is_bot: false, first_name: 'Ana', language_code: 'es' },
        date: Math.floor(Date.now() / 1000),
        old_reaction: [],
        new_reaction: [{ type: 'emoji', emoji: '❤' }],
      },
    }),
    check: async (h, calls) => {
      expect(calls).toEqual([]);
      const [r] = await h.db<{ n: number }[]>`SELECT count(*)::int AS n FROM transactions WHERE user_id = ${await h.userId()} AND source = 'reaction'`;
      expect(r!.n).toBe(1);
    },
  },
];
