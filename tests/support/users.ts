import type { BotApiStub, RecordedCall } from './bot-api-stub.js';

/** Every callback_data of the inline keyboard of a recorded sendMessage/editMessageText call. */
export function buttonsOf(call: RecordedCall | undefined): string[] {
  const markup = call?.payload.reply_markup;
  const kb = typeof markup === 'string' ? JSON.parse(markup) : markup;
  return (kb?.inline_keyboard ?? []).flat().map((b: { callback_data?: string }) => b.callback_data).filter(Boolean);
}

/** The last call of `method` to `chatId` whose text matches. */
export function lastTo(telegram: BotApiStub, method: string, chatId: number, re?: RegExp): RecordedCall | undefined {
  return telegram
    .callsOf(method)
    .filter((c) => Number(c.payload.chat_id) === chatId && (!re || re.test(String(c.payload.text ?? ''))))
    .at(-1);
}

/** answerCallbackQuery calls (text may be undefined: the spinner just stops). */
export function cbAnswers(telegram: BotApiStub): { id: string; text?: string }[] {
  return telegram.callsOf('answerCallbackQuery').map((c) => ({ id: String(c.payload.callback_query_id), text: c.payload.text }));
}
