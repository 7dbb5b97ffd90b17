import { nameHtml } from '../../lib/bot/reply.js';
/**
 * Abuse / security: requests that must be denied with no effect, and hostile user input that must be
 * stored verbatim and echoed safely.
 *  - webhook with a wrong, missing or oversized secret → 401, no inbox row, no user, no Bot API call;
 *  - QStash deliveries with a forged, expired, wrong-URL or tampered signature → 401, not processed;
 *  - cron calls without the CRON_SECRET bearer → refused;
 *  - a non-admin calling /eventos → denied;
 *  - SQL-looking and HTML-looking names and arguments → stored as typed, every HTML reply escapes them.
 */
import { randomBytes } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { createEvent } from '../../lib/bus/events.js';
import { textUpdate } from '../support/app.js';
import { uniqueTelegramId } from '../support/db.js';
import { signQStashJwt } from '../support/qstash-server.js';
import { appName, faultApp, useAdminDb } from './support.js';

const admin = useAdminDb();
const ADMIN_TG = uniqueTelegramId();
const CURRENT = `sig_${randomBytes(16).toString('hex')}`;
const NEXT = `sig_${randomBytes(16).toString('hex')}`;
const CRON_SECRET = randomBytes(24).toString('hex');
const PUBLIC_URL = 'https://dianabot.example.test';
const t = await faultApp(appName('security'), {
  ADMIN_USER_IDS: String(ADMIN_TG),
  QSTASH_CURRENT_SIGNING_KEY: CURRENT,
  QSTASH_NEXT_SIGNING_KEY: NEXT,
  PUBLIC_URL,
  CRON_SECRET,
});

beforeEach(() => t.telegram.reset());

/** Telegram's HTML parse mode: only these tags, and every & must start an entity. */
const ALLOWED_TAGS = new Set(['b', 'strong', 'i', 'em', 'u', 'ins', 's', 'strike', 'del', 'a', 'code', 'pre', 'tg-spoiler', 'span', 'blockquote', 'tg-emoji']);
function htmlProblems(text: string): string[] {
  const problems: string[] = [];
  for (const m of text.matchAll(/<\/?([a-zA-Z-]+)[^>]*>/g)) if (!ALLOWED_TAGS.has(m[1]!.toLowerCase())) problems.push(`tag <${m[1]}>`);
  for (const m of text.matchAll(/&(?!(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);)/g)) problems.push(`bare & at ${m.index}`);
  if (/<(?![a-zA-Z/])/.test(text)) problems.push('bare <');
  return problems;
}
const htmlReplies = () =>
  [...t.telegram.callsOf('sendMessage'), ...t.telegram.callsOf('editMessageText')]
    .filter((c) => c.payload.parse_mode === 'HTML')
    .map((c) => String(c.payload.text));

describe('security: webhook secret', () => {
  it('wrong, missing, empty, oversized or array secret → 401; no inbox row, no user, no Bot API call', async () => {
    const tg = uniqueTelegramId();
    const attempts: { headers: Record<string, string | string[]> }[] = [
      { headers: {} },
      { headers: { 'x-telegram-bot-api-secret-token': '' } },
      { headers: { 'x-telegram-bot-api-secret-token': 'test-webhook-secreT' } },
      { headers: { 'x-telegram-bot-api-secret-token': 'test-webhook-secret '.repeat(20) } },
      { headers: { 'x-telegram-bot-api-secret-token': ['wrong', 'test-webhook-secret'] } },
      { headers: { 'X-Telegram-Bot-Api-Secret-Token': 'nope' } },
    ];
    const ids: number[] = [];
    for (const a of attempts) {
      const update = textUpdate(tg, '/daily');
      ids.push(update.update_id);
      const res = await t.app.webhook({ method: 'POST', headers: a.headers, body: JSON.stringify(update) });
      expect(res.status).toBe(401);
    }
    const [row] = await admin<{ inbox: number; users: number }[]>`
      SELECT (SELECT count(*)::int FROM telegram_updates WHERE update_id IN ${admin(ids)}) AS inbox,
             (SELECT count(*)::int FROM users WHERE telegram_id = ${tg}) AS users`;
    expect(row).toEqual({ inbox: 0, users: 0 });
    expect(t.telegram.calls).toHaveLength(0);
  });
});

describe('security: QStash deliveries and cron', () => {
  const event = createEvent('gamification.besitos_earned', { amount: 5, source: 'daily', transaction_id: 1, balance_after: 5 }, 1);
  const body = JSON.stringify(event);
  const url = `${PUBLIC_URL}/api/events/audit`;
  const processed = async () =>
    (await admin<{ n: number }[]>`SELECT count(*)::int AS n FROM processed_events WHERE event_id = ${event.event_id}`)[0]!.n;
  const deliver = (signature: string | undefined, b = body) =>
    t.app.bus.receive('audit', { method: 'POST', headers: signature === undefined ? {} : { 'upstash-signature': signature }, body: b });

  it('forged (wrong key), expired, not yet valid, wrong URL, wrong issuer, tampered body, missing → 401, nothing processed', async () => {
    const now = Math.floor(Date.now() / 1000);
    const bad = [
      signQStashJwt(`sig_${randomBytes(16).toString('hex')}`, url, body),
      signQStashJwt(CURRENT, url, body, { exp: now - 600, iat: now - 900, nbf: now - 900 }),
      signQStashJwt(CURRENT, url, body, { nbf: now + 600, iat: now + 600, exp: now + 900 }),
      signQStashJwt(CURRENT, `${PUBLIC_URL}/api/events/gamification`, body),
      signQStashJwt(CURRENT, url, body, { iss: 'NotUpstash' }),
      signQStashJwt(CURRENT, url, body.replace('"amount":5', '"amount":500')),
      'not.a.jwt',
      undefined,
    ];
    for (const sig of bad) expect((await deliver(sig)).status).toBe(401);
    expect(await processed()).toBe(0);
    // Control: the same delivery correctly signed (with the next key, as after a rotation) is processed once.
    expect((await deliver(signQStashJwt(NEXT, url, body))).status).toBe(200);
    expect((await deliver(signQStashJwt(CURRENT, url, body))).status).toBe(200);
    expect(await processed()).toBe(1);
  });

  it('cron without the CRON_SECRET bearer (missing, wrong, other scheme, unsigned POST) is refused; with it, allowed', async () => {
    const cron = (headers: Record<string, string>) => t.app.bus.authorizeCron({ method: 'GET', headers, body: '' }, '/api/cron/relay');
    expect(await cron({})).toBe(false);
    expect(await cron({ authorization: 'Bearer wrong' })).toBe(false);
    expect(await cron({ authorization: `Basic ${CRON_SECRET}` })).toBe(false);
    expect(await cron({ authorization: `Bearer ${CRON_SECRET}x` })).toBe(false);
    expect(await cron({ 'upstash-signature': signQStashJwt('forged', `${PUBLIC_URL}/api/cron/relay`, '') })).toBe(false);
    expect(await cron({ authorization: `Bearer ${CRON_SECRET}` })).toBe(true);
  });
});

describe('security: admin commands', () => {
  it('a non-admin calling /eventos is denied and sees no events; the admin is not', async () => {
    const eve = uniqueTelegramId();
    await t.post(textUpdate(eve, '/daily'));
    t.telegram.reset();
    await t.post(textUpdate(eve, `/eventos ${ADMIN_TG}`));
    await t.post(textUpdate(eve, '/eventos'));
    const replies = t.telegram.sentTexts(eve);
    expect(replies).toHaveLength(2);
    for (const r of replies) expect(r).toBe(t.app.bot.context.t!.forbidden());
    await t.post(textUpdate(ADMIN_TG, `/eventos ${eve}`));
    expect(t.telegram.sentTexts(ADMIN_TG).at(-1)).not.toBe(t.app.bot.context.t!.forbidden());
  });
});

describe('security: hostile input is stored verbatim and echoed escaped', () => {
  const hostile = ['<b>x</b>', "'; DROP TABLE users;--", 'Tom & Jerry <script>alert(1)</script>', '"><img src=x onerror=alert(1)>'];

  it.each(hostile)('first name %j → stored as typed, escaped in /start and /perfil, the tables intact', async (name) => {
    const tg = uniqueTelegramId();
    expect((await t.post(textUpdate(tg, '/start', { firstName: name }))).status).toBe(200);
    expect((await t.post(textUpdate(tg, '/perfil', { firstName: name }))).status).toBe(200);
    const [row] = await admin<{ first_name: string }[]>`SELECT first_name FROM users WHERE telegram_id = ${tg}`;
    expect(row?.first_name).toBe(name);
    const replies = htmlReplies();
    expect(replies.length).toBeGreaterThanOrEqual(2);
    for (const r of replies) {
      expect(htmlProblems(r), r).toEqual([]);
      expect(r).not.toContain(name.includes('<') ? name : '\u0000never');
    }
    expect(replies[0]).toContain(nameHtml(name)); // escaped, and shortened for display
    const [{ n }] = (await admin<{ n: number }[]>`SELECT count(*)::int AS n FROM users`) as unknown as [{ n: number }];
    expect(n).toBeGreaterThan(0);
  });

  it('hostile /regalar arguments and admin views of a hostile name are escaped too', async () => {
    const tg = uniqueTelegramId();
    await t.post(textUpdate(tg, '/daily', { firstName: '<i>ana</i>', username: `ana_${tg}`.slice(0, 32) }));
    await t.post(textUpdate(tg, '/regalar 5 @<b>x</b>'));
    await t.post(textUpdate(tg, "/regalar 5 @x';DROP/**/TABLE/**/users;--"));
    await t.post(textUpdate(tg, '/regalar <script> 5'));
    await t.post(textUpdate(ADMIN_TG, `/eventos ${tg}`));
    for (const r of htmlReplies()) expect(htmlProblems(r), r).toEqual([]);
    const all = t.telegram.callsOf('sendMessage').map((c) => String(c.payload.text));
    expect(all.some((x) => x.includes('<b>x</b>') || x.includes('<script>') || x.includes('<i>ana</i>'))).toBe(false);
    const [row] = await admin<{ besitos: number }[]>`SELECT b.besitos FROM users u JOIN user_balances b ON b.user_id = u.id WHERE u.telegram_id = ${tg}`;
    expect(row?.besitos).toBe(10);
  });
});
