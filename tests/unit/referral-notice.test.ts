import { describe, expect, it } from 'vitest';
import { referralNoticeText } from '../../lib/gamification/referrals.js';

describe('the referee’s notice when the inviter erased their account before the payout', () => {
  it('says the inviter’s reward could not be paid and theirs is paid; or, capped, that neither came', () => {
    const paid = referralNoticeText({ user_id: 1, role: 'referee', besitos: 25, inviter_gone: true });
    expect(paid).toContain('Quien te invitó borró su cuenta antes de que empezaras a jugar, así que su premio por invitarte no se pudo pagar.');
    expect(paid).toContain('El tuyo sí: por llegar con una invitación recibes <b>25 besitos</b>.');
    const capped = referralNoticeText({ user_id: 1, role: 'referee', besitos: 0, inviter_gone: true, capped: { by: 'policy', period: 'week', limit: 15 } });
    expect(capped).toContain('su premio por invitarte no se pudo pagar');
    expect(capped).toContain('tampoco te trae besitos a ti: esta semana ya se alcanzó el límite');
    expect(capped).not.toContain('<b>');
  });
});
