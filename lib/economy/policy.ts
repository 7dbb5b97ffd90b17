import { cappedSources } from '../besitos/policy.js';
import type { CapTable } from './rules.js';

/**
 * The caps the anomaly detector checks: the economy policy's (lib/besitos/policy.ts cappedSources), every
 * source family with a day or week cap, per local day and ISO week. The ledger refuses a grant over its
 * cap, so a breach found here means a grant went around the policy (a bug, a direct write).
 */
export function economyCaps(): CapTable {
  return override ?? cappedSources();
}

let override: CapTable | null = null;

/** Tests: replaces the table the detector reads (null: the policy's again). */
export function setEconomyCaps(next: CapTable | null): void {
  override = next;
}
