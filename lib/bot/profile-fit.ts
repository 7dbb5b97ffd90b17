/**
 * Telegram refuses a message longer than this. Counted here in UTF-16 units (an emoji is two) and with
 * the HTML tags, so the check errs on the safe side of however Telegram counts.
 */
export const TELEGRAM_TEXT_LIMIT = 4096;

export interface Headed {
  title: string;
  body: string;
}

const join = (header: string, sections: Headed[]) => [header, ...sections.map((s) => `<b>${s.title}</b>\n${s.body}`)].join('\n\n');

/**
 * /perfil's text within Telegram's limit: every section keeps its heading; while too long, the longest
 * body loses its last line (whole lines, so no HTML tag is cut) for `cut`. Sections are bounded today
 * (three bonus lines, short names); this keeps a future long one from making /perfil fail outright.
 */
export function fitProfile(header: string, sections: Headed[], cut: string, limit = TELEGRAM_TEXT_LIMIT): string {
  const parts = sections.map((s) => ({ title: s.title, lines: s.body.split('\n'), cut: false }));
  const render = () => join(header, parts.map((p) => ({ title: p.title, body: [...p.lines, ...(p.cut ? [cut] : [])].join('\n') })));
  let text = render();
  while (text.length > limit) {
    const longest = parts.filter((p) => p.lines.length > 0).sort((a, b) => b.lines.join('\n').length - a.lines.join('\n').length)[0];
    if (!longest) return text.slice(0, limit); // only headings left: cannot happen with our titles
    longest.lines.pop();
    longest.cut = true;
    text = render();
  }
  return text;
}
