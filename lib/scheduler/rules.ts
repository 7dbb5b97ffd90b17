/** Pure scheduling rules (no I/O). */

/** 30 s, 60 s, 120 s … capped at one hour, ±20 % jitter so that a burst of failures spreads out. */
export function defaultBackoffSeconds(attempt: number, random = Math.random): number {
  return Math.min(3600, 30 * 2 ** Math.max(0, attempt - 1)) * (0.8 + random() * 0.4);
}

export const DEFAULT_MAX_ATTEMPTS = 5;

/** How late a run is, never negative. */
export function lateness(dueAt: Date, now: Date): number {
  return Math.max(0, now.getTime() - dueAt.getTime());
}

/** Job keys: what a module derives from its cause (`vip.reminder:<subscription>`), kept short. */
export function isValidKey(key: unknown): key is string {
  return typeof key === 'string' && key.length >= 1 && key.length <= 200;
}

export function errorText(err: unknown): string {
  return `${(err as Error)?.name ?? 'Error'}: ${(err as Error)?.message ?? String(err)}`.slice(0, 2000);
}
