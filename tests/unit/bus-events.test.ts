import { describe, expect, it } from 'vitest';
import { createEvent, EVENT_TYPES, INTERNAL_EVENT_TYPES, InvalidEvent, parseEvent, type EventData, type EventType } from '../../lib/bus/events.js';
import { routes, SUBSCRIBERS, subscribersFor } from '../../lib/bus/subscriptions.js';

const at = '2026-11-25T10:00:00.000Z';

/** One valid payload per catalogue type (seed §7.1). */
const samples: { [T in EventType]: EventData<T> } = {
  'narrative.fragment_started': { fragment_key: 'cap1_inicio', level: 1 },
  'narrative.decision_made': { fragment_key: 'cap1_inicio', decision_key: 'seguirla', next_fragment_key: 'cap1_jardin' },
  'narrative.fragment_completed': { fragment_key: 'cap1_jardin', level: 1, besitos_awarded: 5 },
  'narrative.level_completed': { level: 1, fragments_completed: 7 },
  'narrative.secret_discovered': { secret_key: 'carta_oculta', fragment_key: 'cap1_jardin' },
  'gamification.besitos_earned': { amount: 10, source: 'daily', transaction_id: 42, balance_after: 30 },
  'gamification.besitos_spent': { amount: 15, source: 'shop', transaction_id: 43, balance_after: 15, reversal_of: 41 },
  'gamification.item_purchased': { item_key: 'pista_1', quantity: 1, price: 15, transaction_id: 43 },
  'gamification.item_used': { item_key: 'pista_1', quantity: 1 },
  'gamification.achievement_unlocked': { achievement_key: 'primer_beso', reward_besitos: 50 },
  'gamification.mission_assigned': { mission_key: 'diaria_3_trivias', mission_type: 'daily', expires_at: '2026-11-26T06:00:00.000Z' },
  'gamification.mission_completed': { mission_key: 'diaria_3_trivias', reward_besitos: 20 },
  'gamification.auction_won': { auction_id: 7, item_key: 'foto_exclusiva', amount: 300, transaction_id: 99 },
  'gamification.trivia_answered': { trivia_key: 'q17', correct: true, reward_besitos: 10, response_ms: 4200 },
  // Referrals (issue #20)
  'gamification.referral_recorded': { referrer_id: 5 },
  'gamification.referral_refused': { reason: 'cycle', referrer_id: 5 },
  'gamification.referral_rewarded': { referrer_id: 5, referee_reward: 25, referrer_reward: 50 },
  'gamification.referral_not_rewarded': { referrer_id: 5, reason: 'capped' },
  'admin.subscription_started': { subscription_id: 3, plan: 'vip_mensual', starts_at: at, expires_at: '2026-12-25T10:00:00.000Z' },
  'admin.subscription_expiring': { subscription_id: 3, expires_at: '2026-12-25T10:00:00.000Z', days_left: 3 },
  'admin.subscription_expired': { subscription_id: 3, expired_at: '2026-12-25T10:00:00.000Z' },
  'admin.user_joined_channel': { channel_id: -1001234567890, channel_kind: 'vip', invite_link: null },
  'admin.user_left_channel': { channel_id: -1001234567890, channel_kind: 'vip', reason: 'expired' },
  'admin.content_published': { content_type: 'channel_post', content_key: 'post_2026_11_25', channel_id: -1001234567890 },
  // Internal
  'system.command_requested': { action_id: 17, name: 'export' },
  'system.job_due': { job_key: 'vip.reminder:17', run_at: at, hop: 0 },
};

describe('event catalogue', () => {
  it('has the 20 event types of seed §7.1, the referral ones (issue #20) and our internal ones', () => {
    expect(INTERNAL_EVENT_TYPES).toEqual(['system.command_requested', 'system.job_due']);
    const referral = EVENT_TYPES.filter((t) => t.startsWith('gamification.referral_'));
    expect(referral).toHaveLength(4);
    expect(EVENT_TYPES.filter((t) => !INTERNAL_EVENT_TYPES.includes(t) && !referral.includes(t))).toHaveLength(20);
    expect(EVENT_TYPES).toHaveLength(20 + referral.length + INTERNAL_EVENT_TYPES.length);
    expect(Object.keys(samples).sort()).toEqual([...EVENT_TYPES].sort());
  });

  it.each(EVENT_TYPES)('%s round-trips through JSON and its schema', (type) => {
    const event = createEvent(type, samples[type] as never, 12, new Date(at));
    const parsed = parseEvent(JSON.parse(JSON.stringify(event)));
    expect(parsed).toEqual(JSON.parse(JSON.stringify(event)));
    expect(parsed.type).toBe(type);
    expect(parsed.version).toBe(1);
  });

  it.each(EVENT_TYPES)('%s without one of its required fields is rejected', (type) => {
    const data = samples[type] as Record<string, unknown>;
    const required = Object.keys(data).filter((k) => k !== 'reversal_of');
    expect(required.length).toBeGreaterThan(0);
    for (const field of required) {
      const { [field]: _dropped, ...rest } = data;
      const event = { ...createEvent(type, rest as never, 12), data: rest };
      expect(() => parseEvent(JSON.parse(JSON.stringify(event))), `${type} without ${field}`).toThrow(InvalidEvent);
    }
  });

  it('rejects a wrong envelope, a wrong field type and an unknown type, naming the problem', () => {
    const ok = createEvent('gamification.besitos_earned', samples['gamification.besitos_earned'], 1);
    expect(() => parseEvent({ ...ok, event_id: 'not-a-uuid' })).toThrow(/event_id/);
    expect(() => parseEvent({ ...ok, occurred_at: 'yesterday' })).toThrow(/occurred_at/);
    expect(() => parseEvent({ ...ok, data: { ...ok.data, amount: -5 } })).toThrow(/data\.amount/);
    expect(() => parseEvent({ ...ok, data: { ...ok.data, amount: '10' } })).toThrow(InvalidEvent);
    expect(() => parseEvent({ ...ok, type: 'gamification.besitos_stolen' })).toThrow(/unknown event type/);
    expect(() => parseEvent(null)).toThrow(InvalidEvent);
    const { version: _v, ...noVersion } = ok;
    expect(() => parseEvent(noVersion)).toThrow(/version/);
  });

  it('accepts events without a user (and null user_id)', () => {
    const e = createEvent('admin.content_published', samples['admin.content_published']);
    expect(parseEvent(JSON.parse(JSON.stringify(e))).user_id).toBeUndefined();
    expect(parseEvent({ ...e, user_id: null }).user_id).toBeUndefined();
  });
});

describe('subscriptions', () => {
  it('audit gets every type but job triggers; every other subscriber gets only catalogue types', () => {
    for (const type of EVENT_TYPES.filter((t) => t !== 'system.job_due')) expect(subscribersFor(type)).toContain('audit');
    expect(subscribersFor('system.job_due')).toEqual(['scheduler']);
    for (const s of SUBSCRIBERS) for (const t of routes[s]) expect(EVENT_TYPES).toContain(t);
    expect(subscribersFor('something.unknown')).toEqual(['audit']);
  });

  it('routes the ledger events to gamification (source statistics) and audit only', () => {
    expect([...subscribersFor('gamification.besitos_earned')].sort()).toEqual(['audit', 'gamification']);
    expect(subscribersFor('admin.subscription_started')).toEqual(expect.arrayContaining(['audit', 'narrative', 'admin']));
  });

  it('routes async command requests to the commands subscriber (and audit), and nothing else there', () => {
    expect([...subscribersFor('system.command_requested')].sort()).toEqual(['audit', 'commands']);
    expect(routes.commands).toEqual(['system.command_requested']);
  });
});
