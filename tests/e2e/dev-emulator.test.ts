import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Telegram, TelegramError } from 'telegraf';
import { parseTelegramHtml, plainText, safeHref } from '../../dev/public/telegram-html.js';
import { devToken, TelegramEmulator } from '../../dev/telegram-emulator.js';

describe("Telegram's HTML parse mode (shared by the emulator and the chat page)", () => {
  it('accepts the tags Telegram accepts and decodes entities', () => {
    const { nodes, error } = parseTelegramHtml(
      '<b>negrita</b> <strong>s</strong> <i>i</i> <u>u</u> <s>s</s> <span class="tg-spoiler">x</span> <tg-spoiler>y</tg-spoiler> ' +
        '<a href="https://t.me/x">link</a> <code>c</code> <pre><code class="language-ts">p</code></pre> <blockquote expandable>q</blockquote> ' +
        '&lt;b&gt; &amp; &quot; &#128139; &#x1F48B;',
    );
    expect(error).toBeNull();
    expect(plainText(nodes)).toBe('negrita s i u s x y link c p q <b> & " 💋 💋');
    const tags = (ns: any[]): string[] => ns.flatMap((n) => (n.type === 'el' ? [n.tag, ...tags(n.children)] : []));
    expect(tags(nodes)).toEqual(['b', 'b', 'i', 'u', 's', 'spoiler', 'spoiler', 'a', 'code', 'pre', 'code', 'blockquote']);
  });

  it('refuses what Telegram refuses, in its words, and keeps the bad markup as plain text', () => {
    expect(parseTelegramHtml('<div>x</div>').error).toBe('Unsupported start tag "div" at byte offset 0');
    expect(parseTelegramHtml('te quiero <3').error).toBe('Unsupported start tag "3" at byte offset 10');
    expect(parseTelegramHtml('ñ<b>x</i>').error).toBe('Unmatched end tag at byte offset 6, expected "</b>", found "</i>"');
    expect(parseTelegramHtml('<b>x').error).toBe('Can\'t find end tag corresponding to start tag "b"');
    expect(parseTelegramHtml('x</b>').error).toBe('Unexpected end tag at byte offset 1');
    const evil = parseTelegramHtml('<script>alert(1)</script><img src=x onerror=alert(1)>');
    expect(evil.error).toMatch(/Unsupported start tag "script"/);
    expect(evil.nodes).toEqual([{ type: 'text', text: '<script>alert(1)</script><img src=x onerror=alert(1)>' }]);
  });

  it('drops links a client would not open and unknown attributes', () => {
    const { nodes } = parseTelegramHtml('<a href="javascript:alert(1)">x</a><b onclick="alert(1)">y</b>');
    expect(nodes).toEqual([
      { type: 'el', tag: 'a', attrs: {}, children: [{ type: 'text', text: 'x' }] },
      { type: 'el', tag: 'b', attrs: {}, children: [{ type: 'text', text: 'y' }] },
    ]);
    expect(safeHref('tg://user?id=1')).toBe('tg://user?id=1');
    expect(safeHref(' JAVASCRIPT:alert(1)')).toBeNull();
    expect(safeHref('data:text/html,x')).toBeNull();
  });
});

describe('the Bot API emulator answers like Telegram', () => {
  const token = devToken(4567890);
  let emulator: TelegramEmulator;
  let tg: Telegram;
  const chat = 987654321;

  beforeAll(async () => {
    emulator = await new TelegramEmulator({ token, bot: { username: 'EmuBot' } }).listen();
    emulator.addUser({ id: chat, first_name: 'Ada' });
    tg = new Telegram(token, { apiRoot: emulator.url });
  });
  afterAll(() => emulator.close());

  const apiError = (p: Promise<unknown>) => p.then(() => null, (e) => e as TelegramError);

  it('getMe, and 401 for another token', async () => {
    expect(await tg.getMe()).toMatchObject({ id: 4567890, is_bot: true, username: 'EmuBot' });
    const other = new Telegram(devToken(1), { apiRoot: emulator.url });
    expect((await apiError(other.getMe()))?.code).toBe(401);
  });

  it('sendMessage records the message per chat; bad HTML, empty and too-long texts are refused', async () => {
    const m = await tg.sendMessage(chat, '<b>Hola</b> &amp; adiós', { parse_mode: 'HTML' });
    expect(m).toMatchObject({ message_id: expect.any(Number), chat: { id: chat, type: 'private' }, text: 'Hola & adiós' });
    expect(emulator.messages(chat).at(-1)).toMatchObject({ from: 'bot', text: '<b>Hola</b> &amp; adiós', parse_mode: 'HTML' });

    const bad = await apiError(tg.sendMessage(chat, 'a <3 b', { parse_mode: 'HTML' }));
    expect(bad?.code).toBe(400);
    expect(bad?.description).toBe('Bad Request: can\'t parse entities: Unsupported start tag "3" at byte offset 2');
    expect((await apiError(tg.sendMessage(chat, '  ')))?.description).toBe('Bad Request: message text is empty');
    expect((await apiError(tg.sendMessage(chat, 'x'.repeat(4097))))?.description).toBe('Bad Request: message is too long');
    expect(await tg.sendMessage(chat, `<b>${'x'.repeat(4096)}</b>`, { parse_mode: 'HTML' })).toBeTruthy(); // the limit counts visible text
    const badData = await apiError(tg.sendMessage(chat, 'x', { reply_markup: { inline_keyboard: [[{ text: 'b', callback_data: 'x'.repeat(65) }]] } }));
    expect(badData?.description).toBe('Bad Request: BUTTON_DATA_INVALID');
  });

  it('edits: text and keyboard change, an identical edit is "message is not modified", unknown ids are refused', async () => {
    const kb = { inline_keyboard: [[{ text: 'Uno', callback_data: 'one' }]] };
    const m = await tg.sendMessage(chat, 'antes', { reply_markup: kb });
    await tg.editMessageText(chat, m.message_id, undefined, 'después', { reply_markup: kb });
    expect(emulator.messages(chat).find((x) => x.message_id === m.message_id)).toMatchObject({ text: 'después', edit_date: expect.any(Number) });
    const same = await apiError(tg.editMessageText(chat, m.message_id, undefined, 'después', { reply_markup: kb }));
    expect(same?.description).toMatch(/^Bad Request: message is not modified/);
    await tg.editMessageReplyMarkup(chat, m.message_id, undefined, { inline_keyboard: [] });
    expect((await apiError(tg.editMessageReplyMarkup(chat, m.message_id, undefined, { inline_keyboard: [] })))?.description).toMatch(/not modified/);
    expect((await apiError(tg.editMessageText(chat, 99_999, undefined, 'x')))?.description).toBe('Bad Request: message to edit not found');
    await tg.deleteMessage(chat, m.message_id);
    expect((await apiError(tg.deleteMessage(chat, m.message_id)))?.description).toBe('Bad Request: message to delete not found');
  });

  it('sendDocument as multipart/form-data keeps the file, its name and its bytes', async () => {
    const bytes = Buffer.from('fecha,besitos\n2026-01-01,10\n');
    const m = await tg.sendDocument(chat, { source: bytes, filename: 'historial.csv' }, { caption: '<b>Tu historial</b>', parse_mode: 'HTML' });
    expect(m).toMatchObject({ document: { file_name: 'historial.csv', file_size: bytes.length } });
    const stored = emulator.messages(chat).at(-1)!;
    expect(stored).toMatchObject({ method: 'sendDocument', caption: '<b>Tu historial</b>', document: { file_name: 'historial.csv' } });
    expect(emulator.file(stored.document!.file_id)?.bytes?.equals(bytes)).toBe(true);
    const call = emulator.callsOf('sendDocument').at(-1)!;
    expect(call.payload.document).toMatchObject({ file: 'historial.csv', size: bytes.length });
    // Like Telegram, the type follows the file name when the upload gives none (the /exportar file is JSON).
    expect(emulator.file(stored.document!.file_id)?.mime_type).toBe('text/csv');
    const json = await tg.sendDocument(chat, { source: Buffer.from('{"a":1}'), filename: 'dianabot-2026-11-26.json' });
    expect(json).toMatchObject({ document: { file_name: 'dianabot-2026-11-26.json', mime_type: 'application/json' } });
    // Re-sending by file_id works too.
    const again = await tg.sendDocument(chat, stored.document!.file_id);
    expect(again).toMatchObject({ document: { file_id: stored.document!.file_id } });
  });

  it('callback queries: a button press reaches the bot, the answer becomes a toast, an unknown query id is refused', async () => {
    const m = await tg.sendMessage(chat, 'Elige', { reply_markup: { inline_keyboard: [[{ text: 'A', callback_data: 'pick:a' }]] } });
    const events: any[] = [];
    emulator.events.on('event', (e) => events.push(e));
    const press = await emulator.pressButton(chat, m.message_id, 'pick:a');
    expect(press.delivery.via).toBe('getUpdates'); // no webhook set: queued for long polling
    const [update] = (await tg.callApi('getUpdates', { timeout: 0 } as never)) as any[];
    expect(update.callback_query).toMatchObject({ id: press.callback_query_id, data: 'pick:a', from: { id: chat }, message: { message_id: m.message_id, text: 'Elige' } });
    await tg.answerCbQuery(press.callback_query_id, '¡Listo!', { show_alert: true });
    expect(events).toContainEqual({ type: 'toast', chat_id: chat, text: '¡Listo!', show_alert: true });
    expect((await apiError(tg.answerCbQuery(press.callback_query_id)))?.description).toMatch(/query ID is invalid/);
    await expect(emulator.pressButton(chat, m.message_id, 'pick:zzz')).rejects.toThrow(/no button/);
  });

  it('reactions in the test group reach the bot as message_reaction (Bot API 7.0), put on and taken back', async () => {
    const group = emulator.ensureGroup();
    const m = await tg.sendMessage(group.id, 'Nuevo capítulo');
    const drained = (await tg.callApi('getUpdates', { timeout: 0 } as never)) as any[];
    const offset = drained.length ? drained.at(-1).update_id + 1 : 0;
    await emulator.react(chat, group.id, m.message_id, '❤');
    expect(emulator.messages(group.id).find((x) => x.message_id === m.message_id)!.reactions).toEqual({ [String(chat)]: '❤' });
    await emulator.react(chat, group.id, m.message_id, null);
    const updates = (await tg.callApi('getUpdates', { offset, timeout: 0 } as never)) as any[];
    expect(updates.map((u) => u.message_reaction)).toMatchObject([
      { chat: { id: group.id, type: 'supergroup' }, message_id: m.message_id, user: { id: chat }, old_reaction: [], new_reaction: [{ type: 'emoji', emoji: '❤' }] },
      { old_reaction: [{ type: 'emoji', emoji: '❤' }], new_reaction: [] },
    ]);
    await expect(emulator.react(chat, chat, m.message_id, '❤')).rejects.toThrow(/test group/);
  });

  it('a user who blocks the bot: my_chat_member kicked, 403 on sends, unblocked by writing again', async () => {
    const id = 55_000_001;
    emulator.addUser({ id, first_name: 'Bloq', username: 'bloq_user' });
    const drained = (await tg.callApi('getUpdates', { timeout: 0 } as never)) as any[];
    const offset = drained.length ? drained.at(-1).update_id + 1 : 0;
    await emulator.setBlocked(id, true);
    expect(await emulator.setBlocked(id, true)).toBeNull(); // already blocked: nothing to tell
    const err = await apiError(tg.sendMessage(id, 'hola'));
    expect(err?.code).toBe(403);
    expect(err?.description).toBe('Forbidden: bot was blocked by the user');
    await emulator.sendText(id, '/start');
    expect(await tg.sendMessage(id, 'de vuelta')).toBeTruthy();
    const updates = (await tg.callApi('getUpdates', { offset, timeout: 0 } as never)) as any[];
    expect(updates.map((u) => u.my_chat_member?.new_chat_member.status ?? u.message?.text)).toEqual(['kicked', 'member', '/start']);
    expect(updates[0].my_chat_member).toMatchObject({ chat: { id, type: 'private' }, from: { id, username: 'bloq_user' }, old_chat_member: { status: 'member', user: { id: 4567890, is_bot: true } } });
    expect(updates[2].message.from).not.toHaveProperty('blocked');
  });

  it('getUpdates conflicts with a webhook, long-polls, and forgets confirmed updates', async () => {
    await tg.setWebhook('https://example.com/hook');
    expect((await apiError(tg.callApi('getUpdates', {} as never)))?.code).toBe(409);
    await tg.deleteWebhook();
    const drained = (await tg.callApi('getUpdates', { timeout: 0 } as never)) as any[];
    const offset = drained.length ? drained.at(-1).update_id + 1 : 0;
    const started = Date.now();
    const waiting = tg.callApi('getUpdates', { offset, timeout: 5 } as never) as Promise<any[]>;
    setTimeout(() => void emulator.sendText(chat, '/start'), 100);
    const got = await waiting;
    expect(Date.now() - started).toBeLessThan(3000);
    expect(got).toHaveLength(1);
    expect(got[0].message).toMatchObject({ text: '/start', entities: [{ type: 'bot_command', offset: 0, length: 6 }], chat: { id: chat, type: 'private' } });
    expect(await tg.callApi('getUpdates', { offset: got[0].update_id + 1, timeout: 0 } as never)).toEqual([]);
  });

  it('delivers to a webhook with the secret header and retries a 5xx, as Telegram does', async () => {
    const http = await import('node:http');
    const seen: { secret: unknown; body: any }[] = [];
    let failures = 1;
    const hook = http.createServer((req, res) => {
      let raw = '';
      req.on('data', (c) => (raw += c));
      req.on('end', () => {
        seen.push({ secret: req.headers['x-telegram-bot-api-secret-token'], body: JSON.parse(raw) });
        res.writeHead(failures-- > 0 ? 503 : 200).end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    const emu = await new TelegramEmulator({ token, retryDelayMs: 20 }).listen();
    try {
      const t = new Telegram(token, { apiRoot: emu.url });
      await t.setWebhook(`http://127.0.0.1:${(hook.address() as any).port}/`, { secret_token: 'abc_123' });
      emu.addUser({ id: 42, first_name: 'Hook' });
      const r = await emu.sendText(42, 'hola');
      expect(r.delivery).toMatchObject({ via: 'webhook', status: 503 });
      for (let i = 0; i < 100 && seen.length < 2; i++) await new Promise((res) => setTimeout(res, 20));
      expect(seen).toHaveLength(2);
      expect(seen.every((s) => s.secret === 'abc_123' && s.body.update_id === r.update_id)).toBe(true);
      expect((await apiError(t.setWebhook('https://x.example', { secret_token: 'no spaces allowed' })))?.code).toBe(400);
    } finally {
      await emu.close();
      hook.close();
    }
  });
});
