import { expect } from 'vitest';
import { uniqueTelegramId } from '../../support/db.js';
import { textUpdate } from '../../support/updates.js';
import type { UpdateKind } from '../harness.js';

/** Invitations (lib/gamification/referrals.ts, lib/bot/features/invitar.ts and start.ts). */
export const kinds: UpdateKind[] = [
  {
    name: '/invitar',
    // The inbox claim with the state load and the inbox completion (2), the code (created on first view)
    // and the counts in one statement (1).
    budget: { sql: 3, kv: 0, botApi: 1 },
    update: (h) => textUpdate(h.tg, '/invitar'),
    check: (_h, calls) => {
      const sent = calls.find((c) => c.method === 'sendMessage');
      expect(String(sent?.payload.text)).toMatch(/Invita a tus amistades[\s\S]*t\.me\/DianaTestBot\?start=ref_[a-z0-9]{8}/);
      const markup = sent?.payload.reply_markup as { inline_keyboard: { url?: string }[][] };
      expect(markup.inline_keyboard[0]![0]!.url).toMatch(/^https:\/\/t\.me\/share\/url\?url=/);
    },
  },
  {
    name: '/start ref_<code> (a new user arrives invited)',
    // Measured for the friend's first update (the case the link exists for), not a returning user:
    // the inbox (2), the deep-link payload kept (1), "is this person new" (1), the referral.record command
    // (begin, action, referrer + chain in one statement, the referral row, its event, result, commit: 7)
    // and the after-commit relay of the event (claim, mark published: 2).
    budget: { sql: 12, kv: 0, botApi: 1 }, // issue 18: the relay's claim in the completion statement
    prepare: async (h) => {
      await h.post(textUpdate(h.tg, '/invitar'));
      const [row] = await h.db<{ code: string }[]>`SELECT code FROM referral_codes WHERE user_id = ${await h.userId()}`;
      h.memo.code = row!.code;
      h.memo.friend = String(uniqueTelegramId());
    },
    update: (h) => textUpdate(Number(h.memo.friend), `/start ref_${h.memo.code}`, { firstName: 'Amiga' }),
    check: async (h, calls) => {
      const sent = calls.find((c) => c.method === 'sendMessage');
      expect(String(sent?.payload.text)).toMatch(/Llegaste por invitación de/);
      const [row] = await h.db<{ status: string }[]>`
        SELECT r.status FROM referrals r JOIN users u ON u.id = r.referee_id WHERE u.telegram_id = ${Number(h.memo.friend)}`;
      expect(row?.status).toBe('pending');
    },
  },
];
