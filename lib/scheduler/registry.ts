import type postgres from 'postgres';
import type { Telegram } from 'telegraf';
import type { z } from 'zod';
import type { KeyValueStore } from '../kv/types.js';
import type { Logger } from '../log.js';
import type { Clock } from '../time/zone.js';

export type Tx = postgres.TransactionSql<{}>;

/** What a handler is told about the run. */
export interface JobContext {
  kind: string;
  key: string;
  /** When the job was due (as scheduled or last rescheduled). */
  dueAt: Date;
  /** The injected clock's time when this run started. */
  now: Date;
  /** How late this run is: now − dueAt, ≥ 0 (an outage or a missed cron makes it large). */
  lateMs: number;
  /** 1 on the first run, 2 on the first retry … */
  attempt: number;
  clock: Clock;
  timeZone: string;
  log: Logger;
  /** Bot API client (reminders, posts); absent in bare setups. */
  telegram?: Telegram;
  kv?: KeyValueStore;
}

/**
 * What a module registers for one kind of job. `run` executes inside the transaction that also marks
 * the job done: its database effect and the completion commit together, so it happens once. Throwing
 * rolls both back and the job is retried with back-off, then kept as failed with the error.
 * A run that finds its job pointless (a reminder already past its deadline) just returns.
 */
export interface JobHandler<P = unknown> {
  kind: string;
  payload: z.ZodType<P>;
  run(tx: Tx, payload: P, ctx: JobContext): Promise<void>;
  /**
   * The payload holds personal data the job needs to do its work (e.g. the Telegram id of a person who
   * erased their data): it is blanked (`{}`) in the run's transaction when the job is done, and when it
   * fails for good, so it lives only as long as the work is pending.
   */
  personalPayload?: boolean;
  /** Runs before giving up (default 5). */
  maxAttempts?: number;
  /** Seconds before retry n (n ≥ 1); default 30 s, 60 s, 120 s … capped at one hour. */
  backoffSeconds?: (attempt: number) => number;
}

export class UnknownJobKind extends Error {
  constructor(readonly kind: string) {
    super(`no handler registered for job kind "${kind}"`);
    this.name = 'UnknownJobKind';
  }
}

export class InvalidJobPayload extends Error {
  constructor(readonly kind: string, detail: string) {
    super(`invalid payload for job kind "${kind}": ${detail}`);
    this.name = 'InvalidJobPayload';
  }
}

export class JobHandlers {
  private readonly byKind = new Map<string, JobHandler<any>>();
  register<P>(h: JobHandler<P>): void {
    if (!/^[a-z][a-z0-9_.-]{0,63}$/.test(h.kind)) throw new Error(`bad job kind ${h.kind}`);
    if (this.byKind.has(h.kind)) throw new Error(`job kind ${h.kind} registered twice`);
    this.byKind.set(h.kind, h);
  }
  /** Registers unless this kind is already registered by the same handler object (idempotent wiring). */
  ensure<P>(h: JobHandler<P>): void {
    if (this.byKind.get(h.kind) !== h) this.register(h);
  }
  get(kind: string): JobHandler<unknown> | undefined {
    return this.byKind.get(kind);
  }
  kinds(): string[] {
    return [...this.byKind.keys()];
  }
  /** Validates a payload for its kind; throws UnknownJobKind / InvalidJobPayload. */
  parse(kind: string, payload: unknown): unknown {
    const h = this.get(kind);
    if (!h) throw new UnknownJobKind(kind);
    const r = h.payload.safeParse(payload);
    if (!r.success) {
      throw new InvalidJobPayload(kind, r.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(payload)'}: ${i.message}`).join('; '));
    }
    return r.data;
  }
}

/** The process-wide registry: modules register their kinds (wired in lib/app.ts). */
export const jobHandlers = new JobHandlers();
