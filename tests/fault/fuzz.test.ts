/**
 * Abuse: property-based fuzzing (fast-check) of webhook bodies — malformed JSON, wrong types,
 * missing `from`, 4,096-character and emoji-heavy texts, unknown update kinds, oversized bodies.
 * Expected for every body: a response (never a throw), never a 5xx (which would make Telegram retry
 * in a loop), a log line naming it, and no money moving for the fuzzed users.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nextUpdateId } from '../support/app.js';
import { ledgerMismatches } from '../support/ledger.js';
import { appName, captureLog, faultApp, useAdminDb } from './support.js';

const admin = useAdminDb();
const capture = captureLog();
const t = await faultApp(appName('fuzz'), { WEBHOOK_MAX_ATTEMPTS: '3' }, { log: capture.log });
const FUZZ_IDS = fc.integer({ min: 910_000_000_000, max: 910_000_000_999 }); // telegram ids of fuzzed senders

/** Text that looks like what people type, and what attackers do. */
const text = fc.oneof(
  fc.string({ maxLength: 64 }),
  fc.string({ unit: 'grapheme', maxLength: 200 }),
  fc.constantFrom('/start', '/balance', '/history', '/help', '/regalar', '/regalar -5 @x', '/regalar 99999999999 @x', '/eventos', '/perfil', '/start ' + 'x'.repeat(300)),
  fc.constant('💋'.repeat(2048)), // 4,096 UTF-16 units of emoji
  fc.constant('a'.repeat(4096)),
  fc.constant('<b>x</b> & </i> <script>alert(1)</script>'),
  fc.constant("'; DROP TABLE users;--"),
  fc.constant('\u0000\u202e\ud800'), // NUL, RTL override, a lone surrogate
);

const junk = fc.oneof(fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(fc.integer()), fc.object());
const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(fc.oneof(arb, junk), { nil: undefined, freq: 4 });

const user = fc.record(
  { id: fc.oneof(FUZZ_IDS, junk), is_bot: maybe(fc.boolean()), first_name: maybe(text), username: maybe(fc.string({ maxLength: 40 })), language_code: maybe(fc.constantFrom('es', 'en', 'pt-br')) },
  { requiredKeys: [] },
);

const message = fc.record(
  {
    message_id: maybe(fc.nat()),
    from: fc.option(user, { nil: undefined }),
    chat: maybe(fc.record({ id: fc.oneof(FUZZ_IDS, junk), type: fc.oneof(fc.constantFrom('private', 'group', 'supergroup', 'channel'), junk) })),
    date: maybe(fc.nat()),
    text: maybe(text),
    entities: maybe(fc.array(fc.record({ offset: fc.integer({ min: -5, max: 5000 }), length: fc.integer({ min: -5, max: 5000 }), type: fc.constantFrom('bot_command', 'mention', 'bold', 'nonsense') }), { maxLength: 3 })),
  },
  { requiredKeys: [] },
);

const callback = fc.record(
  { id: maybe(fc.string()), from: fc.option(user, { nil: undefined }), message: maybe(message), data: maybe(fc.oneof(fc.constantFrom('hist:1', 'g:y:1', 'g:u:1', 'g:n:1', 'hist:-1', 'hist:99999999999999999999'), fc.string())), chat_instance: maybe(fc.string()) },
  { requiredKeys: [] },
);

/** An object with a valid update_id and a random (known or unknown) kind with random contents. */
const update = fc.tuple(
  fc.constantFrom('message', 'edited_message', 'channel_post', 'callback_query', 'inline_query', 'my_chat_member', 'poll_answer', 'message_reaction', 'purchased_paid_media', 'not_a_kind', ''),
  fc.oneof(message, callback, junk),
  fc.option(fc.dictionary(fc.string({ maxLength: 10 }), junk, { maxKeys: 3 }), { nil: undefined }),
).map(([kind, inner, extra]) => ({ update_id: nextUpdateId(), ...(extra ?? {}), [kind]: inner }));

/** Bodies that are not an update at all. */
const notAnUpdate = fc.oneof(
  fc.string(), // mostly not JSON
  fc.json().filter((j) => !/"update_id"\s*:\s*\d/.test(j)),
  fc.constantFrom('{', '{"update_id": 1', '[]', 'null', '"x"', '{"update_id": -1}', '{"update_id": 1.5}', '{"update_id": "7"}', '{"update_id": 1e400}', '\u0000'),
  fc.record({ update_id: junk.filter((v) => !(typeof v === 'number' && Number.isSafeInteger(v) && v >= 0)) }).map((o) => JSON.stringify(o)),
);

async function fuzzUsersMoney(): Promise<number> {
  const [row] = await admin<{ n: number }[]>`
    SELECT count(*)::int AS n FROM transactions t JOIN users u ON u.id = t.user_id
     WHERE u.telegram_id BETWEEN 910000000000 AND 910000000999`;
  return row!.n;
}

describe('abuse: fuzzed webhook bodies (fast-check)', () => {
  it('bodies that are not updates → 400 "malformed", a warning each, nothing stored', async () => {
    await fc.assert(
      fc.asyncProperty(notAnUpdate, async (body) => {
        const before = capture.lines.length;
        const res = await t.post(body);
        expect(res.status).toBe(400);
        expect(capture.lines.slice(before).some((l) => l.msg === 'malformed update')).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('updates with wrong types, missing from/chat, odd texts and unknown kinds → always 2xx (never a retry loop), a log line each, no money moves', async () => {
    await fc.assert(
      fc.asyncProperty(update, async (u) => {
        const res = await t.post(u);
        expect([200, 204]).toContain(res.status);
        expect(capture.lines.some((l) => l.update_id === u.update_id)).toBe(true);
        const again = await t.post(u);
        expect(again.status).toBe(200);
      }),
      { numRuns: 400 },
    );
    const outcomes = new Map<string, number>();
    for (const l of capture.lines) outcomes.set(String(l.msg), (outcomes.get(String(l.msg)) ?? 0) + 1);
    console.log('[fuzz] log lines by message:', Object.fromEntries(outcomes));
    expect(await fuzzUsersMoney()).toBe(0);
    const ids = (await admin<{ id: number }[]>`SELECT id FROM users WHERE telegram_id BETWEEN 910000000000 AND 910000000999`).map((r) => r.id);
    if (ids.length) expect(await ledgerMismatches(admin, ids)).toEqual([]);
  }, 120_000);

  it('oversized bodies (1 MB text, 5 MB junk, deep nesting) → an answer that is not 5xx, and no crash', async () => {
    const big = { update_id: nextUpdateId(), message: { message_id: 1, from: { id: 910_000_000_001, is_bot: false, first_name: 'x' }, chat: { id: 910_000_000_001, type: 'private' }, date: 1, text: 'x'.repeat(1_000_000) } };
    const junkBody = JSON.stringify({ update_id: nextUpdateId(), unknown: 'y'.repeat(5_000_000) });
    let deep = '{"update_id": ' + nextUpdateId() + ', "message": ' + '['.repeat(5_000) + ']'.repeat(5_000) + '}';
    for (const body of [JSON.stringify(big), junkBody, deep]) {
      const res = await t.post(body);
      expect(res.status).toBeLessThan(500);
    }
    deep = '';
    expect(await fuzzUsersMoney()).toBe(0);
  });
});
