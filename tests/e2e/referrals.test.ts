import { describe, expect, it } from 'vitest';
import { uniqueTelegramId } from '../support/db.js';
import { callbackUpdate, startTestApp, textUpdate } from '../support/app.js';
import { buttonsOf, lastTo } from '../support/users.js';
import { ledgerMismatches } from '../support/ledger.js';
import { unmatchedGrants } from '../../lib/economy/repository.js';

/**
 * Referrals through the webhook (api/telegram.ts's handler, real Update JSON): t.me/<bot>?start=ref_<code>
 * arrives as "/start ref_<code>"; the reward is paid by the gamification subscriber once the new user
 * has played. Farming earns nothing; duplicates do nothing twice; /borrar racing the reward leaves
 * nothing half-done.
 */
const t = await startTestApp({ RATE_LIMIT_MESSAGES: '1000', RATE_LIMIT_CALLBACKS: '1000' });
const db = t.app.db;

const settle = () => t.settle({ rounds: 4 });

let n = 0;
async function person(opts: { start?: string } = {}) {
  const tg = uniqueTelegramId();
  const firstName = `Persona${++n} Apellido`;
  await t.post(textUpdate(tg, opts.start ? `/start ${opts.start}` : '/start', { firstName, username: `user${tg}` }));
  const [row] = await db<{ id: number }[]>`SELECT id FROM users WHERE telegram_id = ${tg}`;
  return { tg, id: Number(row!.id), firstName };
}
type Person = Awaited<ReturnType<typeof person>>;

/** The code from /invitar's link (the share button opens Telegram's share sheet with it). */
async function codeOf(p: Person): Promise<string> {
  await t.post(textUpdate(p.tg, '/invitar', { firstName: p.firstName }));
  const msg = lastTo(t.telegram, 'sendMessage', p.tg, /Invita a tus amistades/)!;
  const code = /t\.me\/DianaTestBot\?start=ref_([a-z0-9]{8})/.exec(String(msg.payload.text))![1]!;
  const markup = msg.payload.reply_markup as { inline_keyboard: { text: string; url?: string }[][] };
  const share = markup.inline_keyboard[0]![0]!;
  expect(share.url).toBe(`https://t.me/share/url?url=${encodeURIComponent(`https://t.me/DianaTestBot?start=ref_${code}`)}&text=${encodeURIComponent('¡Ven a jugar conmigo con Diana! Una historia que cambia con tus decisiones, y besitos de regalo al empezar 💋')}`);
  return code;
}

const balance = async (p: Person) => Number((await db`SELECT besitos FROM user_balances WHERE user_id = ${p.id}`)[0]!.besitos);
const referralRows = async (p: Person) =>
  (await db<{ referrer_id: number; status: string }[]>`SELECT referrer_id, status FROM referrals WHERE referee_id = ${p.id}`).map((r) => ({ referrer_id: Number(r.referrer_id), status: r.status }));
const referralGrants = async (p: Person) => Number((await db`SELECT count(*)::int AS n FROM transactions WHERE user_id = ${p.id} AND source = 'referral'`)[0]!.n);
const events = async (type: string, userId: number) => Number((await db`SELECT count(*)::int AS n FROM outbox WHERE type = ${type} AND user_id = ${userId}`)[0]!.n);

/** The referral notices a person was sent (the scheduler's job), in order. */
const notices = (p: Person) => t.telegram.sentTexts(p.tg).filter((x) => /^(🎉|🙌) ¡Ya estás jugando!|^🤝 (¡)?Alguien a quien invitaste/.test(x));

async function erase(p: Person) {
  await t.post(textUpdate(p.tg, '/borrar'));
  const yes = buttonsOf(lastTo(t.telegram, 'sendMessage', p.tg, /Borrar tus datos/)).find((d) => d.startsWith('pv:del:y:'))!;
  expect((await t.post(callbackUpdate(p.tg, yes))).status).toBe(200);
}

describe('referrals through the webhook', () => {
  it('happy path: the link in /perfil, a new friend arrives (update delivered twice), plays, both rewarded once, history and events say so', async () => {
    const ana = await person();
    await t.post(textUpdate(ana.tg, '/perfil'));
    const perfil = lastTo(t.telegram, 'sendMessage', ana.tg, /Invitaciones/)!;
    expect(perfil.payload.text).toMatch(/Aún no has invitado a nadie\.\nTu código: <code>[a-z0-9]{8}<\/code>/);
    expect(buttonsOf(perfil)).toContain('ref:share');
    await t.post(callbackUpdate(ana.tg, 'ref:share'));
    const code = await codeOf(ana);
    expect(String(perfil.payload.text)).toContain(code);

    // The friend opens t.me/DianaTestBot?start=ref_<code>: Telegram sends "/start ref_<code>" (twice: a redelivery).
    const friendTg = uniqueTelegramId();
    const first = textUpdate(friendTg, `/start ref_${code}`, { firstName: 'Bea' });
    await Promise.all([t.post(first), t.post(first)]);
    const welcome = t.telegram.sentTexts(friendTg);
    expect(welcome).toHaveLength(1);
    expect(welcome[0]).toMatch(/Llegaste por invitación de <b>Persona\d+<\/b>\. Cuando completes tu primer fragmento de \/historia o reclames tu primer \/regalo, recibirás <b>25 besitos<\/b>/);
    expect(welcome[0]).not.toContain('Apellido'); // first name only
    const [b] = await db<{ id: number }[]>`SELECT id FROM users WHERE telegram_id = ${friendTg}`;
    const bea = { tg: friendTg, id: Number(b!.id), firstName: 'Bea' };
    expect(await referralRows(bea)).toEqual([{ referrer_id: ana.id, status: 'pending' }]);
    expect(await events('gamification.referral_recorded', bea.id)).toBe(1);

    // Not played yet: nothing paid.
    await settle();
    expect(await balance(ana)).toBe(0);

    // Plays: the first /regalo (delivered twice).
    const daily = textUpdate(bea.tg, '/regalo');
    await Promise.all([t.post(daily), t.post(daily)]);
    await settle();
    await settle();
    expect(await balance(bea)).toBe(10 + 25);
    expect(await balance(ana)).toBe(50);
    expect(await referralRows(bea)).toEqual([{ referrer_id: ana.id, status: 'rewarded' }]);
    expect(await events('gamification.referral_rewarded', bea.id)).toBe(1);
    expect(t.telegram.sentTexts(bea.tg).filter((x) => x.includes('¡Ya estás jugando!'))).toHaveLength(1);
    expect(t.telegram.sentTexts(ana.tg).filter((x) => x.includes('Alguien a quien invitaste ya está jugando'))).toHaveLength(1);

    // Playing more pays nothing more (a fragment event, a replayed sweep).
    await t.post(textUpdate(bea.tg, '/regalo'));
    await settle();
    expect(await referralGrants(bea)).toBe(1);
    expect(await referralGrants(ana)).toBe(1);

    await t.post(textUpdate(ana.tg, '/historial'));
    expect(lastTo(t.telegram, 'sendMessage', ana.tg, /Invitación · <b>\+50<\/b>/)).toBeTruthy();
    await t.post(textUpdate(ana.tg, '/perfil'));
    expect(lastTo(t.telegram, 'sendMessage', ana.tg, /Invitaciones/)!.payload.text).toMatch(/Invitaste a <b>1<\/b>: 1 ya juega · ganaste <b>50<\/b> besitos/);
    expect(await ledgerMismatches(db, [ana.id, bea.id])).toEqual([]);
    // The economy's anomaly detector finds each referral grant explained by its referral.
    const unexplained = await unmatchedGrants(db, new Date(Date.now() - 3_600_000), new Date(Date.now() + 60_000));
    expect(unexplained.filter((u) => u.source === 'referral')).toEqual([]);
    await db`UPDATE referrals SET status = 'pending' WHERE referee_id = ${bea.id}`; // a grant whose referral is not rewarded …
    const flagged = await unmatchedGrants(db, new Date(Date.now() - 3_600_000), new Date(Date.now() + 60_000));
    expect(flagged.filter((u) => u.source === 'referral').map((u) => u.userId).sort()).toEqual([ana.id, bea.id].sort()); // … is flagged
    await db`UPDATE referrals SET status = 'rewarded' WHERE referee_id = ${bea.id}`;
  });

  it('farming earns nothing: self-referral, an existing user, a ring of three, erase and come back, an unknown code', async () => {
    const ana = await person();
    const code = await codeOf(ana);

    // Self.
    await t.post(textUpdate(ana.tg, `/start ref_${code}`));
    expect(lastTo(t.telegram, 'sendMessage', ana.tg, /Ese es tu propio enlace/)).toBeTruthy();
    // An existing user (registered before, already played).
    const old = await person();
    await t.post(textUpdate(old.tg, '/regalo'));
    await settle();
    await t.post(textUpdate(old.tg, `/start ref_${code}`));
    expect(lastTo(t.telegram, 'sendMessage', old.tg, /tu cuenta ya existía/)).toBeTruthy();
    expect(await referralRows(old)).toEqual([]);
    // Unknown code.
    const stranger = await person({ start: 'ref_zzzzzzzz' });
    expect(lastTo(t.telegram, 'sendMessage', stranger.tg, /no es válido o ya no existe/)).toBeTruthy();

    // A ring: Ana → Bea → Caro (legitimate, both play), then Caro's link back to Ana.
    const bea = await person({ start: `ref_${code}` });
    await t.post(textUpdate(bea.tg, '/regalo'));
    const caro = await person({ start: `ref_${await codeOf(bea)}` });
    await t.post(textUpdate(caro.tg, '/regalo'));
    await settle();
    expect(await referralRows(caro)).toEqual([{ referrer_id: bea.id, status: 'rewarded' }]);
    const before = await balance(ana);
    await t.post(textUpdate(ana.tg, `/start ref_${await codeOf(caro)}`));
    expect(lastTo(t.telegram, 'sendMessage', ana.tg, /ya estáis enlazados por invitaciones/)).toBeTruthy();
    await t.post(textUpdate(ana.tg, '/regalo'));
    await settle();
    expect(await referralRows(ana)).toEqual([]);
    expect(await balance(ana)).toBe(before + 10); // only the daily gift
    expect(Number((await db`SELECT count(*)::int AS n FROM outbox WHERE type = 'gamification.referral_refused' AND user_id = ${ana.id} AND event->'data'->>'reason' = 'cycle'`)[0]!.n)).toBe(1);

    // Erase and come back through another link: the person is known (pseudonym), not new.
    const dani = await person();
    await erase(dani);
    await t.post(textUpdate(dani.tg, `/start ref_${code}`, { firstName: 'Dani' }));
    expect(lastTo(t.telegram, 'sendMessage', dani.tg, /tu cuenta ya existía/)).toBeTruthy();
    const [back] = await db<{ id: number }[]>`SELECT id FROM users WHERE telegram_id = ${dani.tg}`;
    expect(Number(back!.id)).not.toBe(dani.id); // a new account …
    const again = { ...dani, id: Number(back!.id) };
    await t.post(textUpdate(dani.tg, '/regalo'));
    await settle();
    expect(await referralRows(again)).toEqual([]); // … that earns nobody anything
    expect(await referralGrants(again)).toBe(0);

    // Even a rewarded referee who erases and comes back through a new friend's link: nothing.
    await erase(bea);
    const eva = await person();
    await t.post(textUpdate(bea.tg, `/start ref_${await codeOf(eva)}`));
    await t.post(textUpdate(bea.tg, '/regalo'));
    await settle();
    expect(await balance(eva)).toBe(0);
    // Ana keeps the count of Bea, who erased her data (decision: README "Referrals").
    await t.post(textUpdate(ana.tg, '/perfil'));
    expect(lastTo(t.telegram, 'sendMessage', ana.tg, /Invitaciones/)!.payload.text).toMatch(/Invitaste a <b>1<\/b>: 1 ya juega/);
  });

  it('a referrer is rewarded at most 5 times a day: 7 friends play at once → 5 rewarded, 2 capped, nobody paid twice', async () => {
    const ana = await person();
    const code = await codeOf(ana);
    const friends: Person[] = [];
    for (let i = 0; i < 7; i++) friends.push(await person({ start: `ref_${code}` }));
    await Promise.all(friends.map((f) => t.post(textUpdate(f.tg, '/regalo'))));
    await settle();
    const statuses = (await Promise.all(friends.map(referralRows))).map((r) => r[0]!.status).sort();
    expect(statuses).toEqual(['capped', 'capped', 'rewarded', 'rewarded', 'rewarded', 'rewarded', 'rewarded']);
    expect(await balance(ana)).toBe(5 * 50);
    for (const f of friends) expect(await balance(f)).toBe(10 + ((await referralRows(f))[0]!.status === 'rewarded' ? 25 : 0));
    expect(Number((await db`SELECT count(*)::int AS n FROM outbox WHERE type = 'gamification.referral_not_rewarded' AND event->'data'->>'referrer_id' = ${String(ana.id)}`)[0]!.n)).toBe(2);
    expect(await ledgerMismatches(db, [ana.id, ...friends.map((f) => f.id)])).toEqual([]);
    // Both sides are told, once each, in Spanish: the besitos, or honestly why there are none.
    await settle();
    for (const f of friends) {
      const capped = (await referralRows(f))[0]!.status === 'capped';
      expect(notices(f)).toEqual([
        capped
          ? '🙌 ¡Ya estás jugando! Esta vez la invitación no trae besitos: quien te invitó ya llegó hoy al máximo de 5 invitaciones premiadas, así que no los recibe ninguno de los dos. Lo que ganes jugando es todo tuyo: mira /misiones.'
          : '🎉 ¡Ya estás jugando! Por llegar con una invitación recibes <b>25 besitos</b>. Mira tu saldo con /saldo.',
      ]);
    }
    expect(notices(ana).sort()).toEqual([
      ...Array(2).fill(
        '🤝 Alguien a quien invitaste ya está jugando, pero esta invitación no trae besitos: hoy ya llegaste al máximo de 5 invitaciones premiadas, así que no los recibe ninguno de los dos. Las invitaciones que empiecen a jugar mañana vuelven a contar.',
      ),
      ...Array(5).fill('🤝 ¡Alguien a quien invitaste ya está jugando! Recibes <b>50 besitos</b>. Sigue invitando desde /perfil.'),
    ].sort());
  });

  it("the economy policy's cap on 'referral' grants (5 a day per person) refuses both sides together, never one", async () => {
    // Bea was invited today (one referral grant), then invites 5 friends: her 5th reward as a referrer
    // would be her 6th referral grant of the day.
    const ana = await person();
    const bea = await person({ start: `ref_${await codeOf(ana)}` });
    await t.post(textUpdate(bea.tg, '/regalo'));
    await settle();
    expect(await referralGrants(bea)).toBe(1);
    const code = await codeOf(bea);
    const friends: Person[] = [];
    for (let i = 0; i < 5; i++) friends.push(await person({ start: `ref_${code}` }));
    for (const f of friends) await t.post(textUpdate(f.tg, '/regalo'));
    await settle();
    // Which friend is refused depends on the order the subscriber sees their events: exactly one.
    const statuses = (await Promise.all(friends.map(referralRows))).map((r) => r[0]!.status);
    expect([...statuses].sort()).toEqual(['capped', 'rewarded', 'rewarded', 'rewarded', 'rewarded']);
    const refused = friends[statuses.indexOf('capped')]!;
    expect(await referralGrants(bea)).toBe(5);
    expect(await referralGrants(refused)).toBe(0); // the referee of the refused one got nothing either
    expect(await balance(bea)).toBe(10 + 25 + 4 * 50);
    expect(await ledgerMismatches(db, [bea.id, ...friends.map((f) => f.id)])).toEqual([]);
    // Both sides of the refused one are told why nothing came (once, however often the jobs are swept).
    await settle();
    expect(notices(refused)).toEqual([
      '🙌 ¡Ya estás jugando! Esta vez la invitación no trae besitos: hoy ya se alcanzó el límite de premios por invitaciones, así que no los recibe ninguno de los dos. Lo que ganes jugando es todo tuyo: mira /misiones.',
    ]);
    expect(notices(bea).filter((x) => x.includes('no trae besitos'))).toEqual([
      '🤝 Alguien a quien invitaste ya está jugando, pero esta invitación no trae besitos: hoy ya se alcanzó el límite de premios por invitaciones, así que no los recibe ninguno de los dos. Las invitaciones que empiecen a jugar mañana vuelven a contar.',
    ]);
  });

  it('the referrer erased before the referee played: the referee gets their own reward and is told, once, that the inviter’s could not be paid', async () => {
    const ana = await person();
    const bea = await person({ start: `ref_${await codeOf(ana)}` });
    await erase(ana);
    expect(await referralRows(bea)).toEqual([{ referrer_id: ana.id, status: 'pending' }]);
    await t.post(textUpdate(bea.tg, '/regalo'));
    await settle();
    expect(await referralRows(bea)).toEqual([{ referrer_id: ana.id, status: 'referee_only' }]);
    expect(await referralGrants(bea)).toBe(1);
    expect(await referralGrants(ana)).toBe(0);
    expect(await balance(bea)).toBe(10 + 25);
    expect(await events('gamification.referral_not_rewarded', bea.id)).toBe(1);
    expect(await events('gamification.referral_rewarded', bea.id)).toBe(0);
    // Playing again and more sweeps: told once, paid once.
    await t.post(textUpdate(bea.tg, '/historia'));
    await settle();
    await settle();
    expect(notices(bea)).toEqual([
      '🎉 ¡Ya estás jugando! Quien te invitó borró su cuenta antes de que empezaras a jugar, así que su premio por invitarte no se pudo pagar. El tuyo sí: por llegar con una invitación recibes <b>25 besitos</b>. Mira tu saldo con /saldo.',
    ]);
    expect(await referralGrants(bea)).toBe(1);
    // The referee's grant is explained for the anomaly detector; the ledger holds.
    const unexplained = await unmatchedGrants(db, new Date(Date.now() - 3_600_000), new Date(Date.now() + 60_000));
    expect(unexplained.filter((u) => u.userId === bea.id)).toEqual([]);
    expect(await ledgerMismatches(db, [ana.id, bea.id])).toEqual([]);
  });

  it('the reward raced with /borrar (of the referee, of the referrer): paid to live accounts only, or not at all — never half', async () => {
    for (let round = 0; round < 4; round++) {
      const ana = await person();
      const code = await codeOf(ana);
      const bea = await person({ start: `ref_${code}` });
      const quitter = round % 2 === 0 ? bea : ana;
      await Promise.all([t.post(textUpdate(bea.tg, '/regalo')), erase(quitter), settle()]);
      await settle();
      const [row] = await referralRows(bea);
      const grants = (await referralGrants(ana)) + (await referralGrants(bea));
      if (row!.status === 'rewarded') expect(grants).toBe(2);
      else if (quitter === ana) {
        // The referrer erased first: the referee keeps their own reward, the erased account gets nothing.
        expect(row!.status).toBe('referee_only');
        expect(await referralGrants(ana)).toBe(0);
        expect(await referralGrants(bea)).toBe(1);
      } else {
        expect(row!.status).toBe('lapsed');
        expect(grants).toBe(0);
      }
      // Whoever erased has no personal data left and nothing pending.
      const [gone] = await db`SELECT telegram_id, first_name, deleted_at FROM users WHERE id = ${quitter.id}`;
      expect(gone).toMatchObject({ telegram_id: null, first_name: null });
      expect(gone!.deleted_at).not.toBeNull();
      expect(await db`SELECT 1 FROM referral_codes WHERE user_id = ${quitter.id}`).toEqual([]);
      expect(await ledgerMismatches(db, [ana.id, bea.id])).toEqual([]);
    }
  });
});
