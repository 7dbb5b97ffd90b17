import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../lib/config.js';

describe('config', () => {
  it('has sane defaults for local use', () => {
    const c = parseConfig({});
    expect(c.timeZone).toBe('America/Mexico_City');
    expect(c.DAILY_GIFT_AMOUNT).toBe(10);
    expect(c.TELEGRAM_API_ROOT).toBe('https://api.telegram.org');
    expect(c.ADMIN_USER_IDS).toEqual([]);
  });

  it('parses admin ids and the daily zone', () => {
    const c = parseConfig({ ADMIN_USER_IDS: '12, 34', BOT_TIMEZONE: 'Europe/Madrid' });
    expect(c.ADMIN_USER_IDS).toEqual([12, 34]);
    expect(c.timeZone).toBe('Europe/Madrid');
  });

  it('names every malformed variable', () => {
    try {
      parseConfig({ DATABASE_URL: 'not a url', ADMIN_USER_IDS: '12,abc', BOT_TIMEZONE: 'Mars/Olympus', TELEGRAM_BOT_TOKEN: 'nope' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const msg = (err as Error).message;
      for (const name of ['DATABASE_URL', 'ADMIN_USER_IDS', 'BOT_TIMEZONE', 'TELEGRAM_BOT_TOKEN']) expect(msg).toContain(name);
    }
  });

  it('a Vercel function checks the zone name without Intl; every other mode asks Intl whether it exists', () => {
    const vercel = {
      DIANABOT_MODE: 'vercel',
      DATABASE_URL: 'postgres://u@h/db',
      TELEGRAM_BOT_TOKEN: '123:abcdefghijklmnopqrstuvwxyz',
      TELEGRAM_WEBHOOK_SECRET: 's3cret',
      REDIS_URL: 'redis://127.0.0.1:6379',
      PSEUDONYM_SECRET: 'a-long-random-server-key',
    };
    expect(parseConfig({ ...vercel, BOT_TIMEZONE: 'Etc/GMT+5' }).timeZone).toBe('Etc/GMT+5');
    expect(() => parseConfig({ ...vercel, BOT_TIMEZONE: 'not a zone!' })).toThrow(/BOT_TIMEZONE.*not a valid IANA time zone/);
    // Well formed but unknown: only the build (scripts/build.ts) and the other modes catch it.
    expect(() => parseConfig({ ...vercel, BOT_TIMEZONE: 'Mars/Olympus' })).not.toThrow();
    expect(() => parseConfig({ ...vercel, DIANABOT_MODE: 'start', BOT_TIMEZONE: 'Mars/Olympus' })).toThrow(/BOT_TIMEZONE/);
    expect(() => parseConfig({ TZ: 'Mars/Olympus' })).toThrow(/TZ.*not a valid IANA time zone/);
  });

  it('production modes require the database, token and webhook secret', () => {
    expect(() => parseConfig({ DIANABOT_MODE: 'vercel' })).toThrow(/DATABASE_URL[\s\S]*TELEGRAM_BOT_TOKEN[\s\S]*TELEGRAM_WEBHOOK_SECRET/);
    expect(() =>
      parseConfig({
        DIANABOT_MODE: 'start',
        DATABASE_URL: 'postgres://u@h/db',
        TELEGRAM_BOT_TOKEN: '123:abcdefghijklmnopqrstuvwxyz',
        TELEGRAM_WEBHOOK_SECRET: 's3cret',
        REDIS_URL: 'redis://127.0.0.1:6379',
        PSEUDONYM_SECRET: 'a-long-random-server-key',
      }),
    ).not.toThrow();
    expect(() =>
      parseConfig({
        DIANABOT_MODE: 'start',
        DATABASE_URL: 'postgres://u@h/db',
        TELEGRAM_BOT_TOKEN: '123:abcdefghijklmnopqrstuvwxyz',
        TELEGRAM_WEBHOOK_SECRET: 's3cret',
        REDIS_URL: 'redis://127.0.0.1:6379',
      }),
    ).toThrow(/PSEUDONYM_SECRET/);
    expect(() => parseConfig({ PSEUDONYM_SECRET: 'short' })).toThrow(/PSEUDONYM_SECRET/);
    expect(() =>
      parseConfig({
        DIANABOT_MODE: 'vercel',
        DATABASE_URL: 'postgres://u@h/db',
        TELEGRAM_BOT_TOKEN: '123:abcdefghijklmnopqrstuvwxyz',
        TELEGRAM_WEBHOOK_SECRET: 's3cret',
      }),
    ).toThrow(/REDIS_URL/);
  });

  it('QStash signing keys need PUBLIC_URL (the signature names the destination URL)', () => {
    expect(() => parseConfig({ QSTASH_CURRENT_SIGNING_KEY: 'a', QSTASH_NEXT_SIGNING_KEY: 'b' })).toThrow(/PUBLIC_URL/);
    expect(() => parseConfig({ QSTASH_CURRENT_SIGNING_KEY: 'a', QSTASH_NEXT_SIGNING_KEY: 'b', PUBLIC_URL: 'https://x.example' })).not.toThrow();
  });

  it('Upstash URL and token go together', () => {
    expect(() => parseConfig({ UPSTASH_REDIS_REST_URL: 'https://x.upstash.io' })).toThrow(/UPSTASH_REDIS_REST_TOKEN/);
  });
});
