/** What the inbox needs to know about an update, read defensively: bodies come from the network. */
export interface UpdateSummary {
  updateId: number;
  kind: string;
  fromId: number | null;
  chatId: number | null;
}

export class MalformedUpdate extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'MalformedUpdate';
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function parseUpdateBody(body: unknown): Record<string, unknown> {
  let value = body;
  if (typeof value === 'string' || Buffer.isBuffer(value)) {
    try {
      value = JSON.parse(value.toString());
    } catch {
      throw new MalformedUpdate('body is not JSON');
    }
  }
  if (!isObject(value)) throw new MalformedUpdate('body is not a JSON object');
  const id = value.update_id;
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) throw new MalformedUpdate('update_id missing or not a non-negative integer');
  return value;
}

export function summarizeUpdate(update: Record<string, unknown>): UpdateSummary {
  const kind = Object.keys(update).find((k) => k !== 'update_id') ?? 'empty';
  const inner = update[kind];
  let fromId: number | null = null;
  let chatId: number | null = null;
  if (isObject(inner)) {
    const from = isObject(inner.from) ? inner.from : isObject(inner.user) ? inner.user : null;
    if (from && typeof from.id === 'number') fromId = from.id;
    const chat = isObject(inner.chat) ? inner.chat : isObject(inner.message) && isObject(inner.message.chat) ? inner.message.chat : null;
    if (chat && typeof chat.id === 'number') chatId = chat.id;
  }
  return { updateId: update.update_id as number, kind, fromId, chatId };
}
