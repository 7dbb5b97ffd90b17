import { describe, expect, it } from 'vitest';
import { moduleUrl, probeLazyImport } from '../support/lazy-import.js';

/**
 * The webhook's cold start must not load the chart renderer (@resvg/resvg-wasm, a WebAssembly module):
 * a module hook makes resolving it throw, the Telegram function and the app are imported, and only
 * drawing a chart reaches it.
 */
describe('the chart renderer is loaded lazily', () => {
  it('importing api/telegram.ts does not load it; drawing a chart does', async () => {
    const stdout = await probeLazyImport({
      forbidden: `specifier.startsWith('@resvg/')`,
      marker: 'RESVG_LOADED',
      then: `const chart = await import(${moduleUrl('lib/economy/chart.ts')});
       try { await chart.svgToPng('<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>'); }
       catch (err) { console.log(String(err).includes('RESVG_LOADED') ? 'RENDERER_ON_DEMAND' : 'OTHER ' + err); }`,
    });
    expect(stdout).toContain('COLD_START_OK');
    expect(stdout).toContain('RENDERER_ON_DEMAND');
  }, 40_000);
});
