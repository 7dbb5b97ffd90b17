import { describe, expect, it } from 'vitest';
import { moduleUrl, probeLazyImport } from '../support/lazy-import.js';

/**
 * The webhook's cold start must not load @upstash/qstash: a module hook makes resolving it throw,
 * then the Telegram function (and the app with its bus) is imported; the SDK is reached only when
 * something is actually published or verified.
 */
describe('@upstash/qstash is loaded lazily', () => {
  it('importing api/telegram.ts does not load it; publishing does', async () => {
    const stdout = await probeLazyImport({
      forbidden: `specifier === '@upstash/qstash' || specifier.startsWith('@upstash/qstash/')`,
      marker: 'QSTASH_SDK_LOADED',
      then: `const relay = await import(${moduleUrl('lib/bus/relay.ts')});
       const t = relay.qstashTransport({ baseUrl: 'http://127.0.0.1:9', token: 't', publicUrl: 'http://127.0.0.1:9' });
       try { await t.send([{ rowId: 1, eventId: 'e', type: 'x', subscriber: 'audit', body: '{}' }]); }
       catch (err) { console.log(String(err).includes('QSTASH_SDK_LOADED') ? 'SDK_ON_DEMAND' : 'OTHER ' + err); }`,
    });
    expect(stdout).toContain('COLD_START_OK');
    expect(stdout).toContain('SDK_ON_DEMAND');
  }, 40_000);
});
