import { TelegramError } from 'telegraf';
import { z } from 'zod';
import { lazy } from '../lazy.js';
import { createEvent } from '../bus/events.js';
import { publish } from '../bus/outbox.js';
import type { Queryable } from '../db/client.js';
import { cancel, jobHandlers, reschedule, schedule, type JobHandler, type Tx } from '../scheduler/index.js';
import { callApi } from '../telegram/api.js';

/**
 * Scheduled and protected channel posts. A draft becomes `scheduled` with a `post.publish` job written
 * in the same transaction; the job publishes it once (the scheduler runs a job once, and the handler
 * only sends a post that is still `scheduled`, under a row lock), with protect_content when marked.
 * Moving or deleting a post before it is published moves or cancels its job.
 */

export const postButton = lazy(() => z.object({ text: z.string().trim().min(1).max(64), url: z.url().refine((u) => /^(https|tg):/.test(u), 'https o tg') }));
export const postDraft = lazy(() => z.object({
  chatId: z.number().int(),
  text: z.string().trim().min(1).max(4096),
  mediaType: z.enum(['photo', 'video']).nullable(),
  mediaUrl: z.url().refine((u) => u.startsWith('https://'), 'la URL del medio debe ser https').nullable(),
  buttons: z.array(postButton).max(8),
  protect: z.boolean(),
  publishAt: z.date().nullable(),
}).refine((d) => !d.mediaType || d.text.length <= 1024, { message: 'con foto o video el texto admite 1024 caracteres' }));
export type PostDraft = z.output<typeof postDraft>;

export interface PostRow {
  id: number;
  chat_id: number;
  created_by: number | null;
  text: string;
  media_type: 'photo' | 'video' | null;
  media_url: string | null;
  buttons: { text: string; url: string }[];
  protect: boolean;
  status: 'draft' | 'scheduled' | 'published' | 'cancelled' | 'failed';
  publish_at: Date | null;
  published_at: Date | null;
  message_id: number | null;
  error: string | null;
}
const norm = (r: PostRow): PostRow => ({ ...r, id: Number(r.id), chat_id: Number(r.chat_id), message_id: r.message_id === null ? null : Number(r.message_id) });

const jobKey = (id: number) => `post.publish:${id}`;

export async function createPost(tx: Tx, d: PostDraft, adminUserId: number, now: Date): Promise<PostRow> {
  const publishAt = d.publishAt ?? now;
  const [row] = await tx<PostRow[]>`
    INSERT INTO channel_posts (chat_id, created_by, text, media_type, media_url, buttons, protect, status, publish_at)
    VALUES (${d.chatId}, ${adminUserId}, ${d.text}, ${d.mediaType}, ${d.mediaUrl}, ${tx.json(d.buttons)}, ${d.protect}, 'scheduled', ${publishAt})
    RETURNING *`;
  const post = norm(row!);
  await schedule(tx, { kind: 'post.publish', key: jobKey(post.id), dueAt: publishAt, payload: { postId: post.id } });
  return post;
}

/** Moves a post not yet published; false when it already was (or was deleted). */
export async function movePost(tx: Tx, id: number, publishAt: Date): Promise<boolean> {
  const [row] = await tx`UPDATE channel_posts SET publish_at = ${publishAt}, updated_at = now() WHERE id = ${id} AND status = 'scheduled' RETURNING id`;
  if (!row) return false;
  return reschedule(tx, { key: jobKey(id), dueAt: publishAt });
}

/** Deletes a post not yet published (its job is cancelled); false when too late. */
export async function cancelPost(tx: Tx, id: number): Promise<boolean> {
  const [row] = await tx`UPDATE channel_posts SET status = 'cancelled', updated_at = now() WHERE id = ${id} AND status = 'scheduled' RETURNING id`;
  if (!row) return false;
  await cancel(tx, jobKey(id));
  return true;
}

export async function pendingPosts(db: Queryable): Promise<PostRow[]> {
  return (await db<PostRow[]>`SELECT * FROM channel_posts WHERE status = 'scheduled' ORDER BY publish_at, id LIMIT 30`).map(norm);
}

export async function findPost(db: Queryable, id: number): Promise<PostRow | null> {
  const [row] = await db<PostRow[]>`SELECT * FROM channel_posts WHERE id = ${id}`;
  return row ? norm(row) : null;
}

/** What Telegram says about a post it cannot take (dead media URL, no rights): not worth retrying. */
function isPermanent(err: unknown): err is TelegramError {
  return err instanceof TelegramError && (err.code === 400 || err.code === 403);
}

/**
 * The ❤️ reaction button under every post (lib/bot/features/reacciones.ts: a press reacts, another takes
 * it back), labelled with the live count; the post's own link buttons above it, one per row.
 */
export function postMarkup(post: Pick<PostRow, 'id' | 'buttons'>, reactions: number) {
  return {
    inline_keyboard: [...post.buttons.map((b) => [b]), [{ text: reactions > 0 ? `❤️ ${reactions}` : '❤️', callback_data: `rx:${post.id}` }]],
  };
}

export const publishPostJob: JobHandler<{ postId: number; retry?: number }> = {
  kind: 'post.publish',
  payload: lazy(() => z.object({ postId: z.number().int().positive(), retry: z.number().int().min(1).max(20).optional() })),
  maxAttempts: 8,
  async run(tx, p, ctx) {
    const [row] = await tx<PostRow[]>`SELECT * FROM channel_posts WHERE id = ${p.postId} FOR UPDATE`;
    if (!row || row.status !== 'scheduled') return; // published, deleted or failed already
    const post = norm(row);
    if (post.publish_at && post.publish_at.getTime() > ctx.now.getTime() + 1000) return; // moved later: its job will come
    if (!ctx.telegram) throw new Error('no Bot API client for posts');
    const reply_markup = postMarkup(post, 0);
    const common = { chat_id: post.chat_id, protect_content: post.protect, reply_markup, parse_mode: 'HTML' as const };
    let messageId: number;
    try {
      const sent =
        post.media_type === 'photo'
          ? await callApi(ctx.telegram, 'sendPhoto', { ...common, photo: post.media_url!, caption: post.text })
          : post.media_type === 'video'
            ? await callApi(ctx.telegram, 'sendVideo', { ...common, video: post.media_url!, caption: post.text })
            : await callApi(ctx.telegram, 'sendMessage', { ...common, text: post.text });
      messageId = sent.message_id;
    } catch (err) {
      const retryAfter = err instanceof TelegramError ? err.parameters?.retry_after : undefined;
      if (retryAfter !== undefined) {
        // Telegram's own wait, exactly: a follow-up job at now + retry_after (this one is done).
        const retry = (p.retry ?? 0) + 1;
        await schedule(tx, { kind: 'post.publish', key: `${jobKey(post.id)}:retry${retry}`, dueAt: new Date(ctx.now.getTime() + retryAfter * 1000), payload: { postId: post.id, retry } });
        ctx.log.warn({ msg: 'post rate-limited', post: post.id, retry_after: retryAfter });
        return;
      }
      if (isPermanent(err)) {
        await tx`UPDATE channel_posts SET status = 'failed', error = ${err.description.slice(0, 500)}, updated_at = now() WHERE id = ${post.id}`;
        await notifyAuthor(tx, ctx, post, `⚠️ La publicación #${post.id} no se pudo publicar: Telegram respondió «${err.description.slice(0, 200)}». Revisa el enlace del medio o mis permisos en el canal.`);
        return;
      }
      throw err; // transient: the scheduler retries with back-off
    }
    await tx`UPDATE channel_posts SET status = 'published', published_at = ${ctx.now}, message_id = ${messageId}, updated_at = now() WHERE id = ${post.id}`;
    await publish(tx, createEvent('admin.content_published', { content_type: 'channel_post', content_key: `post:${post.id}`, channel_id: post.chat_id }, undefined, ctx.now));
  },
};
jobHandlers.ensure(publishPostJob);

async function notifyAuthor(tx: Tx, ctx: Parameters<JobHandler['run']>[2], post: PostRow, text: string): Promise<void> {
  if (!post.created_by || !ctx.telegram) return;
  const [u] = await tx<{ telegram_id: string | null }[]>`SELECT telegram_id FROM users WHERE id = ${post.created_by}`;
  if (u?.telegram_id) await ctx.telegram.sendMessage(Number(u.telegram_id), text).catch(() => undefined);
}
