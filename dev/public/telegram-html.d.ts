export type TelegramHtmlNode =
  | { type: 'text'; text: string }
  | { type: 'el'; tag: string; attrs: Record<string, string>; children: TelegramHtmlNode[] };

export function parseTelegramHtml(text: string): { nodes: TelegramHtmlNode[]; error: string | null };
export function plainText(nodes: TelegramHtmlNode[]): string;
export function safeHref(href: unknown): string | null;
export function unescapeMarkdownV2(text: string): string;
