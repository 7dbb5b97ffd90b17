// Telegram's HTML parse mode (https://core.telegram.org/bots/api#html-style), as a pure function
// shared by the Bot API emulator (which rejects what Telegram rejects) and the chat page (which
// renders the tree with createElement/textContent only, so nothing in a message can run as code).
// Plain browser ES module, no build step; types in telegram-html.d.ts.

const NAMED = { lt: '<', gt: '>', amp: '&', quot: '"' };

/** Tags Telegram accepts, with the attributes it reads. */
const TAGS = {
  b: [], strong: [], i: [], em: [], u: [], ins: [], s: [], strike: [], del: [],
  span: ['class'], 'tg-spoiler': [], a: ['href'], 'tg-emoji': ['emoji-id'],
  code: ['class'], pre: [], blockquote: ['expandable'],
};
const CANONICAL = { strong: 'b', em: 'i', ins: 'u', strike: 's', del: 's', 'tg-spoiler': 'spoiler' };

const encoder = new TextEncoder();
const byteOffset = (text, index) => encoder.encode(text.slice(0, index)).length;

function decodeEntities(s) {
  return s.replace(/&(#x[0-9a-fA-F]{1,6}|#[0-9]{1,7}|[a-zA-Z]+);/g, (all, name) => {
    if (name[0] === '#') {
      const code = name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : all;
    }
    return NAMED[name] ?? all;
  });
}

function parseAttributes(src) {
  const attrs = {};
  const re = /([a-zA-Z_:][\w:.-]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;
  let m;
  while ((m = re.exec(src))) attrs[m[1].toLowerCase()] = decodeEntities(m[2] ?? m[3] ?? m[4] ?? '');
  return attrs;
}

/** Only link schemes Telegram clients open; anything else is shown as plain text. */
export function safeHref(href) {
  const h = String(href ?? '').trim();
  return /^(https?:\/\/|tg:\/\/|mailto:)/i.test(h) ? h : null;
}

/**
 * Parses `text` the way Telegram does. Returns the tree and, if Telegram would refuse the message,
 * the error it would give (the tree is still usable: bad markup becomes plain text).
 * Node: { type: 'text', text } | { type: 'el', tag, attrs, children }
 * where tag is one of b i u s spoiler a code pre blockquote emoji.
 */
export function parseTelegramHtml(text) {
  const root = { type: 'el', tag: 'root', attrs: {}, children: [] };
  const stack = [{ node: root, name: 'root', at: 0 }];
  let error = null;
  const fail = (msg) => {
    if (!error) error = msg;
  };
  const pushText = (s) => {
    if (!s) return;
    const parent = stack[stack.length - 1].node;
    const last = parent.children[parent.children.length - 1];
    if (last && last.type === 'text') last.text += s;
    else parent.children.push({ type: 'text', text: s });
  };
  let i = 0;
  while (i < text.length) {
    const lt = text.indexOf('<', i);
    if (lt < 0) {
      pushText(decodeEntities(text.slice(i)));
      break;
    }
    pushText(decodeEntities(text.slice(i, lt)));
    const m = /^<(\/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^<>]*?)?)\s*(\/?)>/.exec(text.slice(lt));
    if (!m) {
      const name = /^<\/?([^\s>]*)/.exec(text.slice(lt))?.[1] ?? '';
      fail(`Unsupported start tag "${name}" at byte offset ${byteOffset(text, lt)}`);
      pushText('<');
      i = lt + 1;
      continue;
    }
    const [whole, closing, rawName, rawAttrs] = m;
    const name = rawName.toLowerCase();
    i = lt + whole.length;
    if (!closing) {
      if (!(name in TAGS)) {
        fail(`Unsupported start tag "${name}" at byte offset ${byteOffset(text, lt)}`);
        pushText(whole);
        continue;
      }
      const all = parseAttributes(rawAttrs);
      const attrs = {};
      for (const a of TAGS[name]) if (a in all) attrs[a] = all[a];
      if (name === 'span' && attrs.class !== 'tg-spoiler') {
        fail(`Tag "span" must have class "tg-spoiler" at byte offset ${byteOffset(text, lt)}`);
      }
      if (name === 'a' && 'href' in attrs && safeHref(attrs.href) === null) delete attrs.href;
      const tag = name === 'span' ? 'spoiler' : name === 'tg-emoji' ? 'emoji' : (CANONICAL[name] ?? name);
      if (tag === 'code' && attrs.class && !/^language-[\w+#.-]+$/.test(attrs.class)) delete attrs.class;
      const node = { type: 'el', tag, attrs, children: [] };
      stack[stack.length - 1].node.children.push(node);
      stack.push({ node, name, at: lt });
      continue;
    }
    const top = stack[stack.length - 1];
    if (stack.length === 1) {
      fail(`Unexpected end tag at byte offset ${byteOffset(text, lt)}`);
      pushText(whole);
    } else if (top.name !== name) {
      fail(`Unmatched end tag at byte offset ${byteOffset(text, lt)}, expected "</${top.name}>", found "</${name}>"`);
      pushText(whole);
    } else {
      stack.pop();
    }
  }
  if (stack.length > 1) fail(`Can't find end tag corresponding to start tag "${stack[stack.length - 1].name}"`);
  return { nodes: root.children, error };
}

/** The text a user would see (used for Telegram's length and emptiness checks). */
export function plainText(nodes) {
  return nodes.map((n) => (n.type === 'text' ? n.text : plainText(n.children))).join('');
}

/** MarkdownV2 is shown as plain text with its escapes removed (close enough for a dev tool). */
export function unescapeMarkdownV2(text) {
  return String(text).replace(/\\([_*[\]()~`>#+\-=|{}.!\\])/g, '$1');
}
