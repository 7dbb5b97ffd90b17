import { economyPolicy } from '../besitos/policy.js';
import type { CapTable } from './rules.js';

/**
 * The caps the anomaly detector checks: the economy policy's (lib/besitos/policy.ts), per source family,
 * per local day and ISO week. The ledger refuses a grant over its cap, so a breach found here means a
 * grant went around the policy (a bug, a direct write).
 */
export function economyCaps(): CapTable {
  if (override) return override;
  return Object.fromEntries(Object.entries(economyPolicy.sources).map(([key, s]) => [key, { day: s.caps.day, week: s.caps.week }]));
}

let override: CapTable | null = null;

/** Tests: replaces the table the detector reads (null: the policy's again). */
export function setEconomyCaps(next: CapTable | null): void {
  override = next;
}
