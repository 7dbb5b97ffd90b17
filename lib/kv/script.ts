import { createHash } from 'node:crypto';
import type { KeyValueStore } from './types.js';

/** A Lua script with its SHA-1, run with EVALSHA and loaded with EVAL on a cache miss. */
export interface KvScript {
  readonly source: string;
  readonly sha1: string;
}

export function kvScript(source: string): KvScript {
  return { source, sha1: createHash('sha1').update(source).digest('hex') };
}

/** The same EVALSHA-then-EVAL dance @upstash/ratelimit does (its safeEval), for our own scripts. */
export async function runScript(kv: KeyValueStore, script: KvScript, keys: string[], args: (string | number)[]): Promise<unknown> {
  try {
    return await kv.evalsha(script.sha1, keys, args);
  } catch (err) {
    if (String((err as Error)?.message ?? err).includes('NOSCRIPT')) return kv.eval(script.source, keys, args);
    throw err;
  }
}
