import { z } from 'zod';

const optionalString = z
  .string()
  .trim()
  .optional()
  .transform((v) => (v === '' ? undefined : v));

const optionalUrl = optionalString.pipe(z.url().optional());

const int = (def: number, min: number, max: number) =>
  z.coerce.number().int().min(min).max(max).default(def);

const idList = optionalString.transform((v, ctx) => {
  if (!v) return [] as number[];
  const ids = v.split(',').map((s) => s.trim()).filter(Boolean);
  const out: number[] = [];
  for (const id of ids) {
    if (!/^\d{1,15}$/.test(id)) {
      ctx.addIssue({ code: 'custom', message: `"${id}" no es un id numérico de Telegram` });
      return z.NEVER;
    }
    out.push(Number(id));
  }
  return out;
});

/** Development and tests only: production refuses to start without PSEUDONYM_SECRET. */
export const DEV_PSEUDONYM_SECRET = 'dianabot-dev-pseudonym-key-not-for-production';

/** The shape of an IANA zone name (Area/City, UTC, Etc/GMT+5): checked without Intl. */
const ZONE_NAME = /^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/;

/** Whether the runtime knows the zone. The first Intl use loads ICU (~15-30 ms): not for a cold start. */
export function isKnownTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/**
 * The schema, given how to check a zone name: a Vercel function checks its shape only (the first Intl
 * use loads ICU, ~15-30 ms of every cold start; `npm run build`, which runs with the deployment's
 * variables, asks Intl instead); every other mode asks Intl whether the zone exists.
 */
const schemaFor = (zoneExists: (tz: string) => boolean) => z
  .object({
    NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
    /** Where we run: vercel and start need real services, dev and test fall back to embedded ones. */
    DIANABOT_MODE: z.enum(['vercel', 'start', 'dev', 'test']).optional(),
    TELEGRAM_BOT_TOKEN: optionalString.pipe(
      z.string().regex(/^\d+:[\w-]{20,}$/, 'expected the token BotFather gives: <digits>:<secret>').optional(),
    ),
    TELEGRAM_WEBHOOK_SECRET: optionalString.pipe(
      z.string().regex(/^[A-Za-z0-9_-]{1,256}$/, 'Telegram allows 1-256 chars of A-Z a-z 0-9 _ -').optional(),
    ),
    TELEGRAM_API_ROOT: z.url().default('https://api.telegram.org'),
    BOT_USERNAME: optionalString,
    DATABASE_URL: optionalUrl,
    DATABASE_POOL_MAX: int(10, 1, 200),
    REDIS_URL: optionalUrl,
    UPSTASH_REDIS_REST_URL: optionalUrl,
    UPSTASH_REDIS_REST_TOKEN: optionalString,
    QSTASH_URL: optionalUrl,
    QSTASH_TOKEN: optionalString,
    QSTASH_CURRENT_SIGNING_KEY: optionalString,
    QSTASH_NEXT_SIGNING_KEY: optionalString,
    PUBLIC_URL: optionalUrl,
    CRON_SECRET: optionalString,
    MONGODB_URL: optionalUrl,
    ADMIN_USER_IDS: idList,
    /** Bearer token of the admin panel's JSON endpoints (api/admin/*); unset: those endpoints answer 404. */
    ADMIN_API_TOKEN: optionalString.pipe(z.string().min(24, 'at least 24 characters').optional()),
    /** Zone of the daily reset. TZ is accepted too, but Vercel reserves it, so prefer BOT_TIMEZONE. */
    BOT_TIMEZONE: optionalString.pipe(z.string().refine((tz) => ZONE_NAME.test(tz) && zoneExists(tz), 'not a valid IANA time zone (e.g. America/Mexico_City)').optional()),
    TZ: optionalString,
    DAILY_GIFT_AMOUNT: int(10, 1, 1_000),
    WEBHOOK_MAX_ATTEMPTS: int(5, 1, 50),
    RATE_LIMIT_MESSAGES: int(20, 1, 10_000),
    RATE_LIMIT_CALLBACKS: int(30, 1, 10_000),
    RATE_LIMIT_WINDOW_SECONDS: int(60, 1, 86_400),
    /** A rate-limit check slower than this serves the update anyway (fail open), logged. */
    RATE_LIMIT_TIMEOUT_MS: int(1_000, 50, 30_000),
    /** Share of a user's limit (percent) each instance serves per window without asking the store; 0 asks it every time. */
    RATE_LIMIT_LOCAL_PERCENT: int(25, 0, 100),
    /** How long the inline "Deshacer" button of an undoable command (e.g. /regalar) works. */
    UNDO_WINDOW_SECONDS: int(60, 5, 3_600),
    LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
    /**
     * Key of the abuse-prevention pseudonym (HMAC-SHA256 of the Telegram id) that outlives /borrar on
     * per-person limits (one daily gift per person, rate limits). Required in production; the default
     * only serves `npm run dev` and tests. Changing it forgets those limits (one extra gift each).
     */
    PSEUDONYM_SECRET: optionalString.pipe(z.string().min(16, 'at least 16 characters').optional()),
    /** VIP plans, in Telegram Stars: the monthly subscription (renews every 30 days) and the one-off 30-day pass. */
    VIP_MONTHLY_STARS: int(250, 1, 10_000),
    VIP_PASS_STARS: int(300, 1, 10_000),
    /** Port of `npm run dev` / `npm start` (0 = any free port). */
    PORT: int(3000, 0, 65_535),
  })
  .transform((c) => ({
    ...c,
    timeZone: c.BOT_TIMEZONE ?? c.TZ ?? 'America/Mexico_City',
    pseudonymSecret: c.PSEUDONYM_SECRET ?? DEV_PSEUDONYM_SECRET,
  }))
  .superRefine((c, ctx) => {
    if (!c.BOT_TIMEZONE && !(ZONE_NAME.test(c.timeZone) && zoneExists(c.timeZone))) {
      ctx.addIssue({ code: 'custom', path: ['TZ'], message: `"${c.timeZone}" is not a valid IANA time zone` });
    }
    const needsRealServices = c.DIANABOT_MODE === 'vercel' || c.DIANABOT_MODE === 'start';
    if (needsRealServices) {
      for (const key of ['DATABASE_URL', 'TELEGRAM_BOT_TOKEN', 'TELEGRAM_WEBHOOK_SECRET', 'PSEUDONYM_SECRET'] as const) {
        if (!c[key]) ctx.addIssue({ code: 'custom', path: [key], message: 'is required in production' });
      }
      // The in-memory store is per process: rate limits and sessions would not hold across instances.
      if (!c.REDIS_URL && !c.UPSTASH_REDIS_REST_URL) {
        ctx.addIssue({ code: 'custom', path: ['REDIS_URL'], message: 'is required in production (or UPSTASH_REDIS_REST_URL/_TOKEN)' });
      }
    }
    if (Boolean(c.UPSTASH_REDIS_REST_URL) !== Boolean(c.UPSTASH_REDIS_REST_TOKEN)) {
      ctx.addIssue({
        code: 'custom',
        path: ['UPSTASH_REDIS_REST_TOKEN'],
        message: 'UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN must be set together',
      });
    }
    if ((c.QSTASH_CURRENT_SIGNING_KEY || c.QSTASH_NEXT_SIGNING_KEY) && !c.PUBLIC_URL) {
      // Without it the signature's URL claim can't be checked: a signed body could be replayed to another endpoint.
      ctx.addIssue({ code: 'custom', path: ['PUBLIC_URL'], message: 'is required when QStash signing keys are set' });
    }
    if (c.QSTASH_TOKEN && (!c.QSTASH_CURRENT_SIGNING_KEY || !c.QSTASH_NEXT_SIGNING_KEY || !c.PUBLIC_URL)) {
      ctx.addIssue({
        code: 'custom',
        path: ['QSTASH_TOKEN'],
        message: 'with QSTASH_TOKEN set, QSTASH_CURRENT_SIGNING_KEY, QSTASH_NEXT_SIGNING_KEY and PUBLIC_URL are required',
      });
    }
  });

const schemas = new Map<boolean, ReturnType<typeof schemaFor>>();
const configSchema = (vercel: boolean) => {
  let s = schemas.get(vercel);
  if (!s) schemas.set(vercel, (s = schemaFor(vercel ? () => true : isKnownTimeZone)));
  return s;
};

export type Config = z.output<ReturnType<typeof schemaFor>>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parses an environment; throws ConfigError naming every bad variable. */
export function parseConfig(env: Record<string, string | undefined>): Config {
  // Parsed once per process: zod's compiled fast path (generated with `new Function` on the first
  // parse, worth it for schemas parsed on every update) would cost a cold start more than it saves.
  const result = configSchema(env.DIANABOT_MODE === 'vercel').safeParse(env, { jitless: true });
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`),
    );
  }
  return result.data;
}

let cached: Config | undefined;

/** The process configuration, parsed once. The only place that reads process.env. */
export function getConfig(): Config {
  if (!cached) {
    const env = { ...process.env };
    if (!env.DIANABOT_MODE && env.VERCEL) env.DIANABOT_MODE = 'vercel';
    cached = parseConfig(env);
  }
  return cached;
}

/** process.env with some variables forced (`npm run dev` / `npm start` set DIANABOT_MODE). */
export function loadConfig(forced: Record<string, string> = {}): Config {
  return parseConfig({ ...process.env, ...forced });
}

/** For the dev server and tests, which fill in embedded defaults before the app starts. */
export function setConfig(config: Config): void {
  cached = config;
}
export function resetConfig(): void {
  cached = undefined;
}
