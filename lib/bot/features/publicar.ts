import { Composer } from 'telegraf';
import { findChannel, listChannels, runAdminCommand } from '../../admin/index.js';
import { postCancelCommand, postCreateCommand, postMoveCommand } from '../../admin/commands.js';
import { pendingPosts, postDraft, type PostDraft } from '../../admin/posts.js';
import { startOfLocalDay } from '../../time/zone.js';
import { escapeHtml } from '../html.js';
import type { BotContext } from '../context.js';
import { postMessages as m } from '../messages-posts.js';
import { isAdmin } from './vip-admin.js';

const HTML = { parse_mode: 'HTML' as const };

/** "AAAA-MM-DD HH:MM" in the bot's zone. */
export function parseLocalTime(date: string, time: string, tz: string): Date | null {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date) || !/^\d{1,2}:\d{2}$/.test(time)) return null;
  const [h, min] = time.split(':').map(Number) as [number, number];
  if (h > 23 || min > 59 || Number.isNaN(Date.parse(`${date}T00:00:00Z`))) return null;
  return new Date(startOfLocalDay(date, tz).getTime() + (h * 60 + min) * 60_000);
}

/** Parses the /publicar message: header line (channel, optional date and time, "protegido"), then the body. */
export async function parsePost(ctx: Pick<BotContext, 'deps' | 'botInfo'>, text: string): Promise<{ draft: PostDraft } | { error: string }> {
  const [header = '', ...lines] = text.split('\n');
  const args = header.trim().split(/\s+/).slice(1);
  const target = args.shift();
  let chatId: number | undefined;
  if (target && /^-\d{5,20}$/.test(target)) chatId = (await findChannel(ctx.deps.db, Number(target)))?.chat_id;
  else if (target === 'vip' || target === 'gratis') {
    const kind = target === 'vip' ? 'vip' : 'free';
    chatId = (await listChannels(ctx.deps.db)).find((c) => c.kind === kind && ['administrator', 'creator'].includes(c.bot_status))?.chat_id;
  }
  if (chatId === undefined) return { error: m.unknownTarget };
  let publishAt: Date | null = null;
  if (args[0] && /^\d{4}-/.test(args[0])) {
    publishAt = parseLocalTime(args[0], args[1] ?? '', ctx.deps.settings.timeZone);
    if (!publishAt) return { error: m.badDate };
    args.splice(0, 2);
    if (publishAt.getTime() <= ctx.deps.clock().getTime()) return { error: m.pastDate };
  }
  const protect = args.includes('protegido');
  const body: string[] = [];
  const buttons: { text: string; url: string }[] = [];
  let mediaType: 'photo' | 'video' | null = null;
  let mediaUrl: string | null = null;
  const bot = ctx.botInfo?.username;
  for (const line of lines) {
    const kv = /^(foto|video|boton|botón|enlace):\s*(.+)$/i.exec(line.trim());
    if (!kv) {
      body.push(line);
      continue;
    }
    const key = kv[1]!.toLowerCase();
    const value = kv[2]!.trim();
    if (key === 'foto' || key === 'video') {
      mediaType = key === 'foto' ? 'photo' : 'video';
      mediaUrl = value;
    } else {
      const [label, target2] = value.split('|').map((s) => s.trim());
      if (!label || !target2) return { error: m.badButton };
      if (key === 'enlace') {
        // A deep link into a story fragment or a mission: t.me/<bot>?start=<payload>.
        if (!bot || !/^[A-Za-z0-9_-]{1,64}$/.test(target2)) return { error: m.badDeepLink };
        buttons.push({ text: label, url: `https://t.me/${bot}?start=${target2}` });
      } else buttons.push({ text: label, url: target2 });
    }
  }
  const parsed = postDraft.safeParse({ chatId, text: escapeHtml(body.join('\n').trim()), mediaType, mediaUrl, buttons, protect, publishAt });
  if (!parsed.success) return { error: m.invalid(parsed.error.issues.map((i) => i.message).join('; ')) };
  return { draft: parsed.data };
}

/** /publicar (admins): draft and schedule a channel post, list pending ones, move or delete them. */
export const publicarFeature = new Composer<BotContext>();

publicarFeature.command('publicar', async (ctx) => {
  if (!isAdmin(ctx)) return ctx.reply(ctx.t.forbidden());
  const admin = ctx.state.user!;
  const text = ctx.message.text;
  const [sub, a1, a2, a3] = text.split('\n')[0]!.trim().split(/\s+/).slice(1);
  const { db, clock, settings } = ctx.deps;
  const tz = settings.timeZone;
  if (!sub || sub === 'lista') return ctx.reply(m.list(await pendingPosts(db), tz), HTML);
  if (sub === 'borrar' && a1 && /^\d+$/.test(a1)) {
    const ok = await runAdminCommand(db, postCancelCommand, admin.id, ctx.state.requestKey, { postId: Number(a1) }, clock());
    return ctx.reply(ok ? m.cancelled(Number(a1)) : m.tooLate(Number(a1)));
  }
  if (sub === 'mover' && a1 && /^\d+$/.test(a1)) {
    const at = parseLocalTime(a2 ?? '', a3 ?? '', tz);
    if (!at) return ctx.reply(m.badDate, HTML);
    const ok = await runAdminCommand(db, postMoveCommand, admin.id, ctx.state.requestKey, { postId: Number(a1), publishAt: at.toISOString() }, clock());
    return ctx.reply(ok ? m.moved(Number(a1), at, tz) : m.tooLate(Number(a1)), HTML);
  }
  const r = await parsePost(ctx, text);
  if ('error' in r) return ctx.reply(r.error, HTML);
  const post = await runAdminCommand(db, postCreateCommand, admin.id, ctx.state.requestKey, { ...r.draft, publishAt: r.draft.publishAt?.toISOString() ?? null }, clock());
  await ctx.reply(m.scheduled(post.id, r.draft.publishAt, r.draft.protect, tz), HTML);
});
