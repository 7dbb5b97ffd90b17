/**
 * The economy's safeguards for admins (issue 23): anomaly detection (hourly job, flags, notice),
 * rollback of over-granted besitos (lib/besitos/rollback as admin commands) and the dashboard data.
 * The chart (lib/economy/chart.ts) is imported lazily by whoever draws it: it loads WebAssembly.
 */
import { addDays, startOfLocalDay } from '../time/zone.js';

export { anomalyJob, anomalyScheduler, detectAnomalies, runAnomalyDetection, notifyAdmins, type Detection, type AnomalyRun } from './anomalies.js';
export { economyDashboard, type EconomyDashboard, type Series, type TopEarner } from './dashboard.js';
export { economyRollbackCommand, flagResolveCommand, rollbackParams, type RollbackParams, type RollbackResult } from './commands.js';
export { openFlags, registerGrantProof, type FlagRow } from './repository.js';
export { economyCaps, setEconomyCaps } from './policy.js';
export { userLabel, sourceName } from './texts.js';

/**
 * An admin's date in the bot's zone: `YYYY-MM-DD` (the day's start; as an end, the next day's start, so
 * the day is included) or `YYYY-MM-DDTHH:MM`. Null when it is not one.
 */
export function parseLocalMoment(text: string, timeZone: string, asEnd = false): Date | null {
  const m = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}):(\d{2}))?$/.exec(text.trim());
  if (!m) return null;
  const [, day, hh, mm] = m;
  if (Number.isNaN(Date.parse(`${day}T00:00:00Z`)) || new Date(`${day}T00:00:00Z`).toISOString().slice(0, 10) !== day) return null;
  if (hh === undefined) return startOfLocalDay(asEnd ? addDays(day!, 1) : day!, timeZone);
  if (Number(hh) > 23 || Number(mm) > 59) return null;
  return new Date(startOfLocalDay(day!, timeZone).getTime() + (Number(hh) * 60 + Number(mm)) * 60_000);
}
