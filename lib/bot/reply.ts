import type { Telegram } from 'telegraf';
import { TelegramError } from 'telegraf';
import type { Logger } from '../log.js';
import { escapeHtml } from './html.js';

export { escapeHtml };

/**
 * The one reply path. Every Bot API call the bot makes (ctx.reply, ctx.editMessageText,
 * ctx.telegram.sendMessage, the bus's sendDocument …) goes through `withReplyConventions`, which:
 *   - sends texts and captions as Telegram HTML unless the caller chose otherwise: every text the bot
 *     writes is HTML, with user-supplied text escaped (escapeHtml / nameHtml);
 *   - cuts texts to 4096 and captions to 1024 visible characters (tags kept balanced, "…" at the cut),
 *     callback notices to 200, so an over-long input can never make a reply fail;
 *   - refuses a button whose callback_data exceeds 64 bytes (a programming error, caught in tests);
 *   - treats "message is not modified" (the same edit twice, e.g. a double press) as success.
 */
export const LIMITS = { text: 4096, caption: 1024, callbackAnswer: 200, callbackData: 64, name: 32 } as const;

/** Built on the first name that needs shortening: ICU's segmenter costs milliseconds to create (cold start). */
let segmenter: Intl.Segmenter | undefined;

/**
 * A user-supplied name (first name, @username someone typed) for display: one line, at most `max`
 * characters (whole graphemes, so emoji and accents are never split), "…" when shortened.
 */
export function shortName(name: string, max: number = LIMITS.name): string {
  const flat = name.replace(/\s+/g, ' ').trim();
  if (flat.length <= max) return flat;
  let out = '';
  for (const { segment } of (segmenter ??= new Intl.Segmenter('es', { granularity: 'grapheme' })).segment(flat)) {
    if (out.length + segment.length > max - 1) break;
    out += segment;
  }
  return `${out.trimEnd()}…`;
}


/** A user-supplied name, shortened and escaped, ready to put in an HTML reply. */
export function nameHtml(name: string, max: number = LIMITS.name): string {
  return escapeHtml(shortName(name, max));
}

const TOKEN = /<\/?([a-z-]+)(?:\s[^>]*)?>|&(?:#x?[0-9a-f]+|[a-z]+);|[\s\S]/giy;

/** Characters Telegram counts (UTF-16 code units after parsing the HTML). */
export function visibleLength(html: string): number {
  let n = 0;
  TOKEN.lastIndex = 0;
  for (let m; (m = TOKEN.exec(html)); ) {
    if (m[0].startsWith('<') && m[1]) continue;
    n += m[0].startsWith('&') && m[0].length > 1 ? 1 : m[0].length;
  }
  return n;
}

/** Cuts Telegram HTML to `max` visible characters, ending in "…" and closing the tags left open. */
export function fitHtml(html: string, max: number): string {
  if (html.length <= max || visibleLength(html) <= max) return html;
  const open: string[] = [];
  let out = '';
  let n = 0;
  TOKEN.lastIndex = 0;
  for (let m; (m = TOKEN.exec(html)); ) {
    const tok = m[0];
    if (tok.startsWith('<') && m[1]) {
      const name = m[1].toLowerCase();
      if (tok.startsWith('</')) open.pop();
      else open.push(name);
      out += tok;
      continue;
    }
    const len = tok.startsWith('&') && tok.length > 1 ? 1 : tok.length;
    if (n + len > max - 1) break;
    // Never split a surrogate pair.
    if (len === 1 && /[\uD800-\uDBFF]/.test(tok) && n + 2 > max - 1) break;
    out += tok;
    n += len;
  }
  if (/[\uD800-\uDBFF]$/.test(out)) out = out.slice(0, -1);
  return `${out}…${open.reverse().map((t) => `</${t}>`).join('')}`;
}

/** Cuts plain text (a callback notice) to `max` characters. */
export function fitPlain(text: string, max: number): string {
  if (text.length <= max) return text;
  let out = text.slice(0, max - 1);
  if (/[\uD800-\uDBFF]$/.test(out)) out = out.slice(0, -1);
  return `${out}…`;
}

/** Telegram's answer to an edit that changes nothing: the message already shows what we wanted. */
export function isNotModified(err: unknown): boolean {
  return err instanceof TelegramError && err.code === 400 && /message is not modified/i.test(err.description);
}

const EDITS = new Set(['editMessageText', 'editMessageCaption', 'editMessageReplyMarkup', 'editMessageMedia']);
const TEXTS = new Set(['sendMessage', 'editMessageText']);
const CAPTIONS = new Set(['sendDocument', 'sendPhoto', 'sendVideo', 'sendAudio', 'sendAnimation', 'sendVoice', 'editMessageCaption']);

function checkKeyboard(markup: unknown): void {
  const rows = (markup as { inline_keyboard?: { callback_data?: string }[][] } | undefined)?.inline_keyboard;
  for (const row of rows ?? []) {
    for (const b of row) {
      if (b.callback_data !== undefined && Buffer.byteLength(b.callback_data) > LIMITS.callbackData) {
        throw new Error(`callback_data over ${LIMITS.callbackData} bytes: ${b.callback_data}`);
      }
    }
  }
}

const wrapped = new WeakSet<object>();

/** Applies the reply conventions above to every call of this client (idempotent). */
export function withReplyConventions(telegram: Telegram, log?: Logger): void {
  if (wrapped.has(telegram)) return;
  wrapped.add(telegram);
  const call = telegram.callApi.bind(telegram) as (...a: unknown[]) => Promise<unknown>;
  telegram.callApi = (async (method: string, payload: Record<string, unknown> = {}, opts?: unknown) => {
    let p = payload;
    if (TEXTS.has(method) && typeof p.text === 'string') {
      p = { ...p };
      if (p.parse_mode === undefined && p.entities === undefined) p.parse_mode = 'HTML';
      p.text = p.parse_mode === 'HTML' ? fitHtml(p.text as string, LIMITS.text) : fitPlain(p.text as string, LIMITS.text);
    } else if (CAPTIONS.has(method) && typeof p.caption === 'string') {
      p = { ...p };
      if (p.parse_mode === undefined && p.caption_entities === undefined) p.parse_mode = 'HTML';
      p.caption = p.parse_mode === 'HTML' ? fitHtml(p.caption as string, LIMITS.caption) : fitPlain(p.caption as string, LIMITS.caption);
    } else if (method === 'answerCallbackQuery' && typeof p.text === 'string') {
      p = { ...p, text: fitPlain(p.text as string, LIMITS.callbackAnswer) };
    }
    if (p.reply_markup) checkKeyboard(p.reply_markup);
    try {
      return await call(method, p, opts);
    } catch (err) {
      if (EDITS.has(method) && isNotModified(err)) {
        log?.debug({ msg: 'edit changed nothing (already shown)', method });
        return true;
      }
      throw err;
    }
  }) as typeof telegram.callApi;
}
