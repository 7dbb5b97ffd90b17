import { z } from 'zod';
import { lazy } from '../lazy.js';
import { jobHandlers, schedule, type JobHandler } from '../scheduler/index.js';
import type { Tx } from './repository.js';

const payload = lazy(() => z.object({
  user_id: z.number().int().positive(),
  what: z.enum(['achievement', 'mission']),
  title: z.string().min(1).max(200),
  reward_besitos: z.number().int().min(0),
  item_names: z.array(z.string()).default([]),
  /** The reward's besitos were refused by the source's cap (lib/besitos/policy.ts): why, in Spanish. */
  capped: z.string().max(300).optional(),
}));
type Notice = z.output<typeof payload>;

/** The module's own HTML escaping (lib/gamification does not import lib/bot). */
export const escapeHtml = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function noticeText(n: Notice): string {
  const items = n.item_names.length ? ` y ${n.item_names.map((i) => `<b>${escapeHtml(i)}</b>`).join(', ')}` : '';
  const reward =
    (n.reward_besitos > 0 ? `\nRecibes <b>${n.reward_besitos} besitos</b>${items}.` : items ? `\nRecibes${items}.` : '') +
    (n.capped ? `\n${escapeHtml(n.capped)}` : '');
  return n.what === 'achievement'
    ? `🏆 ¡Logro desbloqueado: <b>${escapeHtml(n.title)}</b>!${reward}\nMira todos tus logros con /logros.`
    : `🎯 ¡Misión cumplida: <b>${escapeHtml(n.title)}</b>!${reward}\nTus misiones: /misiones.`;
}

/**
 * The congratulation, sent by the scheduler: scheduled in the transaction that unlocks (unique key per
 * user and achievement, so never scheduled twice), retried until Telegram takes it (at least once).
 */
export const noticeJob: JobHandler<Notice> = {
  kind: 'gamification.notice',
  payload,
  async run(tx, n, ctx) {
    if (!ctx.telegram) throw new Error('no Bot API client to send the congratulation');
    const [user] = await tx<{ telegram_id: number | null }[]>`SELECT telegram_id FROM users WHERE id = ${n.user_id} AND deleted_at IS NULL`;
    if (!user?.telegram_id) return; // erased meanwhile: nobody to tell
    try {
      await ctx.telegram.sendMessage(Number(user.telegram_id), noticeText(n), { parse_mode: 'HTML' });
    } catch (err) {
      const code = (err as { response?: { error_code?: number } }).response?.error_code;
      if (code === 403 || code === 400) return; // blocked the bot / chat gone: retrying cannot help
      throw err;
    }
  },
};

export function scheduleNotice(tx: Tx, key: string, notice: z.input<typeof payload>, now: Date): Promise<boolean> {
  return schedule(tx, { kind: noticeJob.kind, key: `gamification.notice:${key}`, dueAt: now, payload: notice });
}

// Registered on import: the subscriber schedules this kind wherever it runs (app, tests, benchmarks).
jobHandlers.ensure(noticeJob);
