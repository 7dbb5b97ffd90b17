import type { CapTable } from './rules.js';

/**
 * The caps the anomaly detector checks, per source. The economy policy (issue 23, lib/besitos) is the
 * source of truth for caps; until it is wired here, the caps the ledger already enforces by
 * construction: one daily gift per user and local day (daily_claims' primary key).
 */
let caps: CapTable = { daily: { grantsPerDay: 1 } };

export function economyCaps(): CapTable {
  return caps;
}

/** For the policy module (and tests): replaces the table the detector reads. */
export function setEconomyCaps(next: CapTable): void {
  caps = next;
}
