import { systemClock, type Clock } from './zone.js';

/** A clock a person can move forward (`npm run dev`'s clock control); everything reads `now`. */
export interface MovableClock {
  now: Clock;
  offsetMs(): number;
  advance(ms: number): void;
  /** Back to the base clock's time. */
  reset(): void;
}

export function movableClock(base: Clock = systemClock): MovableClock {
  let offset = 0;
  return {
    now: () => new Date(base().getTime() + offset),
    offsetMs: () => offset,
    advance(ms) {
      if (!Number.isFinite(ms)) throw new Error('advance needs a finite number of milliseconds');
      offset += ms;
    },
    reset() {
      offset = 0;
    },
  };
}
