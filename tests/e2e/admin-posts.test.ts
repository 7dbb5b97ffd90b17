import { beforeEach, describe, expect, it } from 'vitest';
import { callbackUpdate, nextUpdateId, startTestApp, textUpdate } from '../support/app.js';
import { uniqueTelegramId } from '../support/db.js';
import { drainJobs } from '../support/jobs.js';

let now = Date.parse('2026-12-01T18:00:00Z'); // 12:00 in America/Mexico_City
const clock = () => new Date(now);
const ADMIN = uniqueTelegramId();
const t = await startTestApp({ ADMIN_USER_IDS: String(ADMIN) }, { clock });
const { app, telegram, post } = t;
const BOT = { id: 123456, is_bot: true, first_name: 'DianaBot', username: 'DianaTestBot' };
const CHANNEL = -1_007_000_000_000 - Math.floor(Math.random() * 1e6);

beforeEach(() => telegram.reset());

async function postRow(id: number) {
  const [r] = await app.db<{ status: string; message_id: string | null; error: string | null }[]>`SELECT * FROM channel_posts WHERE id = ${id}`;
  return r!;
}
const lastPostId = async () => Number((await app.db<{ id: string }[]>`SELECT max(id) AS id FROM channel_posts`)[0]!.id);
const drain = () => drainJobs(app, () => (now += 61_000));
const published = (chatId = CHANNEL) => telegram.calls.filter((c) => ['sendMessage', 'sendPhoto', 'sendVideo'].includes(c.method) && c.payload.chat_id === chatId);

describe('scheduled and protected channel posts (/publicar)', () => {
  it('setup: the VIP channel', async () => {
    await post({
      update_id: nextUpdateId(),
      my_chat_member: {
        chat: { id: CHANNEL, title: 'Diana VIP', type: 'channel' },
        from: { id: ADMIN, is_bot: false, first_name: 'Admin' },
        date: 0,
        old_chat_member: { user: BOT, status: 'left' },
        new_chat_member: { user: BOT, status: 'creator', is_anonymous: false },
      },
    });
    await post(callbackUpdate(ADMIN, `ch:kind:${CHANNEL}:vip`));
  });

  it('a protected post with a photo, a button and a deep link is published once at its time, even with two sweeps and a trigger racing', async () => {
    await post(textUpdate(ADMIN, '/publicar vip 2026-12-01 14:30 protegido\nNuevo capítulo <ya> disponible\nfoto: https://example.com/cap3.jpg\nboton: Ver más | https://example.com/cap3\nenlace: Leer en el bot | frag_cap3'));
    expect(telegram.sentTexts(ADMIN).at(-1)).toContain('programada para el');
    const id = await lastPostId();
    await app.scheduler.sweep();
    expect(published()).toHaveLength(0); // not yet: 14:30 local is 20:30 UTC
    now = Date.parse('2026-12-01T20:31:00Z');
    await Promise.all([app.scheduler.sweep(), app.scheduler.sweep(), app.scheduler.runJob(`post.publish:${id}`)]);
    await drain();
    const sent = published();
    expect(sent).toHaveLength(1);
    expect(sent[0]!.method).toBe('sendPhoto');
    expect(sent[0]!.payload).toMatchObject({ protect_content: true, photo: 'https://example.com/cap3.jpg', caption: 'Nuevo capítulo &lt;ya&gt; disponible' });
    expect(JSON.stringify(sent[0]!.payload.reply_markup)).toContain('https://t.me/DianaTestBot?start=frag_cap3');
    expect(await postRow(id)).toMatchObject({ status: 'published' });
    const events = await app.db`SELECT 1 FROM outbox WHERE type = 'admin.content_published' AND event->'data'->>'content_key' = ${`post:${id}`}`;
    expect(events).toHaveLength(1);
  });

  it('moving a post reschedules it; deleting it before its time cancels it; both are audited', async () => {
    await post(textUpdate(ADMIN, '/publicar vip 2026-12-02 10:00\nUno'));
    const moved = await lastPostId();
    await post(textUpdate(ADMIN, '/publicar vip 2026-12-02 10:00\nDos'));
    const deleted = await lastPostId();
    await post(textUpdate(ADMIN, `/publicar mover ${moved} 2026-12-03 10:00`));
    await post(textUpdate(ADMIN, `/publicar borrar ${deleted}`));
    now = Date.parse('2026-12-02T17:00:00Z'); // 11:00 local on the 2nd
    await app.scheduler.sweep();
    expect(published()).toHaveLength(0);
    now = Date.parse('2026-12-03T16:01:00Z');
    await app.scheduler.sweep();
    expect(published().map((c) => c.payload.text)).toEqual(['Uno']);
    expect(await postRow(deleted)).toMatchObject({ status: 'cancelled' });
    await post(textUpdate(ADMIN, `/publicar borrar ${moved}`));
    expect(telegram.sentTexts(ADMIN).at(-1)).toContain('ya se publicó');
    const audit = await app.db<{ name: string }[]>`SELECT a.name FROM actions a JOIN users u ON u.id = a.user_id WHERE u.telegram_id = ${ADMIN} AND a.name LIKE 'admin.post%' ORDER BY a.id`;
    expect(audit.map((a) => a.name)).toEqual(expect.arrayContaining(['admin.post_create', 'admin.post_move', 'admin.post_cancel']));
  });

  it('429 with retry_after: published after exactly that wait, once', async () => {
    await post(textUpdate(ADMIN, '/publicar vip\nAhora mismo'));
    const id = await lastPostId();
    telegram.failNext('sendMessage', 1, 429, { parameters: { retry_after: 40 } });
    await app.scheduler.sweep();
    expect(await postRow(id)).toMatchObject({ status: 'scheduled' });
    now += 39_000;
    await app.scheduler.sweep();
    expect(published().filter((c) => c.method === 'sendMessage')).toHaveLength(0);
    now += 2_000;
    await app.scheduler.sweep();
    expect(published().filter((c) => c.method === 'sendMessage').map((c) => c.payload.text)).toEqual(['Ahora mismo']);
    expect(await postRow(id)).toMatchObject({ status: 'published' });
  });

  it('a dead media URL: the post fails with Telegram\'s reason and the author is told in Spanish; no retry loop', async () => {
    await post(textUpdate(ADMIN, '/publicar vip\nCon foto rota\nfoto: https://example.com/nope.jpg'));
    const id = await lastPostId();
    telegram.failNext('sendPhoto', 1, 400, { description: 'Bad Request: wrong file identifier/HTTP URL specified' });
    await drain();
    await drain();
    expect(await postRow(id)).toMatchObject({ status: 'failed', error: expect.stringContaining('HTTP URL') });
    expect(telegram.sentTexts(ADMIN).at(-1)).toContain('no se pudo publicar');
    expect(telegram.callsOf('sendPhoto')).toHaveLength(0);
  });

  it('bad input gets a clear Spanish answer and no post; non-admins are refused', async () => {
    const before = await lastPostId();
    await post(textUpdate(ADMIN, '/publicar nowhere\nHola'));
    await post(textUpdate(ADMIN, '/publicar vip 2026-13-40 25:00\nHola'));
    await post(textUpdate(ADMIN, '/publicar vip 2020-01-01 10:00\nHola'));
    await post(textUpdate(ADMIN, '/publicar vip\nHola\nfoto: http://inseguro.com/a.jpg'));
    const texts = telegram.sentTexts(ADMIN);
    expect(texts[0]).toContain('No sé en qué canal');
    expect(texts[1]).toContain('Fecha no válida');
    expect(texts[2]).toContain('ya pasó');
    expect(texts[3]).toContain('https');
    const user = uniqueTelegramId();
    await post(textUpdate(user, '/publicar vip\nHola'));
    expect(telegram.sentTexts(user)[0]).toContain('solo para administradores');
    expect(await lastPostId()).toBe(before);
  });
});
