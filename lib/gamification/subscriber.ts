import type { EventOf } from '../bus/events.js';
import { fromHandlers, type HandlerContext, type Tx } from '../bus/subscriber.js';
import { localDate } from '../time/zone.js';

type Move = EventOf<'gamification.besitos_earned'> | EventOf<'gamification.besitos_spent'>;

/**
 * Source analytics (seed §4.1): besitos earned and spent per source and local day. A compensating
 * entry (reversal_of set) counts as reversed, so that earned/spent stay what users did.
 */
async function countMove(tx: Tx, event: Move, ctx: HandlerContext): Promise<void> {
  const day = localDate(new Date(event.occurred_at), ctx.timeZone);
  const { amount, source } = event.data;
  const column = event.data.reversal_of !== undefined ? 'reversed' : event.type === 'gamification.besitos_earned' ? 'earned' : 'spent';
  const earned = column === 'earned' ? amount : 0;
  const spent = column === 'spent' ? amount : 0;
  const reversed = column === 'reversed' ? amount : 0;
  await tx`
    INSERT INTO besitos_source_stats AS s (day, source, earned, earned_count, spent, spent_count, reversed, reversed_count)
    VALUES (${day}, ${source}, ${earned}, ${earned ? 1 : 0}, ${spent}, ${spent ? 1 : 0}, ${reversed}, ${reversed ? 1 : 0})
    ON CONFLICT (day, source) DO UPDATE SET
      earned = s.earned + excluded.earned,
      earned_count = s.earned_count + excluded.earned_count,
      spent = s.spent + excluded.spent,
      spent_count = s.spent_count + excluded.spent_count,
      reversed = s.reversed + excluded.reversed,
      reversed_count = s.reversed_count + excluded.reversed_count,
      updated_at = now()`;
}

/**
 * Gamification's reactions. Story, trivia and purchase events are routed here for missions and
 * achievements; until those modules exist they are recorded as processed and nothing else.
 */
export const gamificationSubscriber = fromHandlers({
  'gamification.besitos_earned': countMove,
  'gamification.besitos_spent': countMove,
});
