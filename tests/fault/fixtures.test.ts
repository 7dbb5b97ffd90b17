/**
 * Abuse: every kind of Update Telegram can send (tests/fixtures/updates/*.json, sources in
 * SOURCES.md), including ones without `from`, kinds the bot does not handle, service messages and a
 * Stars payment. Each must get a 2xx, never crash, and a second delivery must change nothing
 * (no new ledger rows, users or Bot API calls).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { nextUpdateId } from '../support/app.js';
import { appName, captureLog, faultApp, useAdminDb } from './support.js';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/updates');
const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
const admin = useAdminDb();
const capture = captureLog();
const t = await faultApp(appName('fixtures'), {}, { log: capture.log });

/** Every Telegram user id mentioned anywhere in the update. */
function userIds(x: unknown, out = new Set<number>()): Set<number> {
  if (Array.isArray(x)) x.forEach((v) => userIds(v, out));
  else if (x && typeof x === 'object') {
    const o = x as Record<string, unknown>;
    if (typeof o.id === 'number' && typeof o.is_bot === 'boolean') out.add(o.id);
    Object.values(o).forEach((v) => userIds(v, out));
  }
  return out;
}

async function snapshot(tgIds: number[]) {
  const [row] = await admin<{ users: number; txs: number }[]>`
    SELECT (SELECT count(*)::int FROM users WHERE telegram_id IN ${admin(tgIds)}) AS users,
           (SELECT count(*)::int FROM transactions t JOIN users u ON u.id = t.user_id WHERE u.telegram_id IN ${admin(tgIds)}) AS txs`;
  return { ...row!, botApiCalls: t.telegram.calls.length };
}

describe('abuse: real Update shapes of every kind, each posted twice', () => {
  it('has samples for every update kind the Bot API defines', () => {
    const kinds = new Set(files.map((f) => Object.keys(JSON.parse(readFileSync(path.join(dir, f), 'utf8'))).find((k) => k !== 'update_id')));
    for (const kind of [
      'message', 'edited_message', 'channel_post', 'edited_channel_post', 'business_connection', 'business_message',
      'edited_business_message', 'deleted_business_messages', 'message_reaction', 'message_reaction_count', 'inline_query',
      'chosen_inline_result', 'callback_query', 'shipping_query', 'pre_checkout_query', 'purchased_paid_media', 'poll',
      'poll_answer', 'my_chat_member', 'chat_member', 'chat_join_request', 'chat_boost', 'removed_chat_boost',
    ]) {
      expect(kinds, kind).toContain(kind);
    }
  });

  it.each(files)('%s → 2xx, a log line, and a second delivery changes nothing', async (file) => {
    const update = { ...JSON.parse(readFileSync(path.join(dir, file), 'utf8')), update_id: nextUpdateId() };
    const ids = [...userIds(update), -1];
    const before = await snapshot(ids);
    const first = await t.post(update);
    expect(first.status, first.body).toBeGreaterThanOrEqual(200);
    expect(first.status, first.body).toBeLessThan(300);
    expect(capture.lines.some((l) => l.update_id === update.update_id)).toBe(true);
    const [inbox] = await admin<{ status: string; error: string | null }[]>`SELECT status, error FROM telegram_updates WHERE update_id = ${update.update_id}`;
    // Handled, not parked as a failure: none of these shapes is a bug in the update.
    expect(inbox, JSON.stringify(inbox)).toMatchObject({ status: 'done' });
    const after = await snapshot(ids);
    const second = await t.post(update);
    expect(second.status).toBe(200);
    expect(await snapshot(ids)).toEqual(after);
    // Bots and updates without a person never get an account or besitos.
    if (file === 'bot-as-sender' + '.json' || file.startsWith('channel-post')) expect(after.users).toBe(before.users);
  });
});
