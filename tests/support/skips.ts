import { appendFileSync } from 'node:fs';
import { inject } from 'vitest';

/**
 * Records that a test group does not run here, and why: `npm test` lists every such group with its
 * reason at the end of the run (tests/support/global-setup.ts teardown). Use as the condition:
 *   describe.skipIf(skipped('chat page (Chromium)', !haveChromium, 'no Chromium at /usr/bin/chromium'))(…)
 */
export function skipped(group: string, skip: boolean, reason: string): boolean {
  if (skip) {
    try {
      appendFileSync(inject('skipLog'), `${JSON.stringify({ group, reason })}\n`);
    } catch {
      console.warn(`[tests] skipped ${group}: ${reason}`);
    }
  }
  return skip;
}
