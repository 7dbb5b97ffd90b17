import { registerErasureHook } from '../users/privacy.js';
import { removeFromRankings } from './ranking.js';

/**
 * /borrar for rankings: the user leaves the sorted sets after the erasure commits (and /ranking
 * never shows an erased user in any case: names are read from live rows only).
 */
registerErasureHook({
  name: 'ranking',
  afterErase: (kv, ids) => removeFromRankings(kv, ids.userId, new Date()),
});
