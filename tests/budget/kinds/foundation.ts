import { expect } from 'vitest';
import { grantBesitos } from '../../../lib/besitos/ledger.js';
import { es } from '../../../lib/bot/messages.js';
import { buttonsOf } from '../../support/users.js';
import { callbackUpdate, textUpdate } from '../../support/updates.js';
import type { UpdateKind } from '../harness.js';
import type { RecordedCall } from '../../support/bot-api-stub.js';

const sent = (calls: RecordedCall[], method: string, re: RegExp) =>
  expect(calls.some((c) => c.method === method && re.test(String(c.payload.text ?? ''))), `${method} ${re}`).toBe(true);

/** The foundation's updates (lib/bot/features). */
export const kinds: UpdateKind[] = [
  {
    name: '/start (returning user)',
    budget: { sql: 2, kv: 0, botApi: 1 },
    update: (h) => textUpdate(h.tg, '/start'),
    check: (_h, calls) => sent(calls, 'sendMessage', /./),
  },
  {
    name: '/balance',
    budget: { sql: 2, kv: 0, botApi: 1 },
    update: (h) => textUpdate(h.tg, '/balance'),
    check: (_h, calls) => sent(calls, 'sendMessage', /besitos/),
  },
  {
    name: '/daily (granted)',
    // Issue 18: the command in one statement (no BEGIN/COMMIT): the action row with its result, the
    // claims check and the claim row in the ledger statement, the streak from the loaded state; no
    // cache read on a first delivery. 4 = state load, that statement, done (with the relay's claim), relay settle.
    budget: { sql: 4, kv: 1, botApi: 1 }, // the after-commit relay: its claim rides in the completion statement, then the settle
    update: (h) => textUpdate(h.tg, '/daily'),
    check: (_h, calls) => sent(calls, 'sendMessage', /Recibiste <b>10 besitos<\/b>/),
  },
  {
    name: '/daily (already claimed)',
    // Issue 18: answered from the loaded state on a first delivery (no cache read).
    budget: { sql: 2, kv: 0, botApi: 1 },
    prepare: async (h) => void (await h.post(textUpdate(h.tg, '/daily'))),
    update: (h) => textUpdate(h.tg, '/daily'),
    check: (_h, calls) => sent(calls, 'sendMessage', /./),
  },
  {
    name: '/history',
    budget: { sql: 3, kv: 0, botApi: 1 },
    prepare: async (h) => void (await h.post(textUpdate(h.tg, '/daily'))),
    update: (h) => textUpdate(h.tg, '/history'),
    check: (_h, calls) => sent(calls, 'sendMessage', /10/),
  },
  {
    name: 'history page (button)',
    budget: { sql: 3, kv: 0, botApi: 1 }, // issue 18: the spinner answer in the webhook response
    prepare: async (h) => void (await h.post(textUpdate(h.tg, '/daily'))),
    update: (h) => callbackUpdate(h.tg, 'hist:999999999999'),
    check: (_h, calls) => expect(calls.map((c) => c.method)).toContain('answerCallbackQuery'),
  },
  {
    name: '/perfil',
    // 6: the story's section (lib/narrative/provider.ts), the gamification sections (missions,
    // achievements, backpack counts and the ranking choice in one statement), the invitations section
    // (the code, created on first view, and the counts in one statement) and VIP: one lazy statement
    // each, read only by /perfil. kv 1: the weekly and all-time places in one script
    // (EVAL), with the boards built as after any /ranking or the hourly rebuild (prepare).
    budget: { sql: 6, kv: 1, botApi: 1 },
    prepare: async (h) => {
      await h.post(textUpdate(h.tg, '/ranking'));
      await h.post(callbackUpdate(h.tg, 'rk:a'));
    },
    update: (h) => textUpdate(h.tg, '/perfil'),
    check: (_h, calls) => {
      const text = String(calls.find((c) => c.method === 'sendMessage')?.payload.text);
      for (const heading of ['💰 Besitos', '🎯 Misiones', '🏅 Logros', '🎒 Mochila', '🏆 Ranking', '🤝 Invitaciones']) expect(text).toContain(`<b>${heading}</b>`);
      expect(text).toMatch(/Esta semana: puesto <b>\d+<\/b>|Esta semana: aún sin puesto/);
    },
  },
  {
    name: '/help',
    budget: { sql: 2, kv: 0, botApi: 1 },
    update: (h) => textUpdate(h.tg, '/help'),
    check: (_h, calls) => sent(calls, 'sendMessage', /\/daily/),
  },
  {
    name: 'unknown command',
    budget: { sql: 2, kv: 0, botApi: 1 },
    update: (h) => textUpdate(h.tg, '/nada'),
    check: (_h, calls) => expect(calls.map((c) => c.payload.text)).toContain(es.unknownCommand()),
  },
  {
    name: '/regalar (asks to confirm)',
    // +3: the confirmation's keyboard.close job (1 INSERT) and the relay of its system.job_due trigger (2).
    // kv +1: the sender's gift/undo loop budget is read before offering a confirmation (issue 16).
    budget: { sql: 5, kv: 5, botApi: 1 }, // issue 18: the relay's claim in the completion statement
    prepare: async (h) => {
      await grantBesitos(h.db, { userId: await h.userId(), amount: 50, source: 'admin', idempotencyKey: `budget:${h.tg}` });
      h.memo.receiver = (await h.person('bea')).username;
    },
    update: (h) => textUpdate(h.tg, `/regalar 5 @${h.memo.receiver}`),
    check: (_h, calls) => sent(calls, 'sendMessage', /^¿Regalar/),
  },
  {
    name: 'gift confirmation (button)',
    // +3: the confirmation's close job cancelled, the undo button's close job scheduled (and its trigger).
    // kv +1: the confirmation is taken by compare-and-set (read + script) so a concurrent "Cancelar" can't
    // end with the message saying cancelled while the gift went through.
    // kv +2 (issue 16): the loop budget is counted (one script) and the receiver's notification window
    // taken (SET NX); a gift inside a taken window schedules the window's summary instead (+SQL, not measured here).
    budget: { sql: 19, kv: 9, botApi: 2 }, // issue 18: the relay's claim in the completion statement
    prepare: async (h) => {
      await grantBesitos(h.db, { userId: await h.userId(), amount: 50, source: 'admin', idempotencyKey: `budget:${h.tg}` });
      const to = await h.person('bea');
      h.telegram.reset();
      await h.post(textUpdate(h.tg, `/regalar 5 @${to.username}`));
      h.memo.yes = buttonsOf(h.telegram.callsOf('sendMessage').at(-1)).find((d) => d.startsWith('g:y:'))!;
    },
    update: (h) => callbackUpdate(h.tg, h.memo.yes!),
    check: (_h, calls) => expect(calls.map((c) => c.method)).toContain('editMessageText'),
  },
];
