// The local chat page: test users talk to the bot through the Telegram emulator of `npm run dev`.
// No framework and no build step. Everything from the bot is drawn with createElement/textContent
// (never innerHTML), so a message can only show Telegram's formatting, not run code.
import { parseTelegramHtml, safeHref, unescapeMarkdownV2 } from './telegram-html.js';
// The bot's own date formatter (lib/time/format.ts, served by the dev server): times as the bot shows them.
import { formatStamp, formatTime } from './format.js';

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) node.append(c);
  return node;
};

const state = {
  bot: null,
  commands: [],
  users: [],
  groups: [],
  timeZone: 'America/Mexico_City',
  current: null, // the chat shown: a user's id (private chat) or the group's id (negative)
  speaker: null, // in the group: the test user who writes and presses buttons
  replyTo: null, // the message the next text answers
  messages: new Map(), // message_id -> message, for the current chat
  unread: new Map(),
  typingTimer: null,
  ledgerTimer: null,
};

const COLORS = ['#e8590c', '#2f9e44', '#1c7ed6', '#ae3ec9', '#f08c00', '#0c8599', '#d6336c', '#5c7cfa'];
const colorFor = (id) => COLORS[Math.abs(Number(id)) % COLORS.length];
const initial = (name) => (name || '?').trim().charAt(0).toUpperCase() || '?';
const timeOf = (unix) => formatTime(new Date(unix * 1000), state.timeZone);
const isGroup = (id) => state.groups.some((g) => g.id === id);
/** Whose wallet the panel shows and who acts: the private chat's user, or the group's speaker. */
const actingUser = () => (isGroup(state.current) ? state.speaker : state.current);
const userName = (id) => state.users.find((u) => u.id === id)?.first_name ?? `id ${id}`;
const fmtBesitos = (n) => `${Number(n).toLocaleString('es-MX')} ${Math.abs(n) === 1 ? 'besito' : 'besitos'}`;

async function api(path, body, method) {
  const res = await fetch(
    path,
    body === undefined ? (method ? { method } : {}) : { method: method ?? 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) },
  );
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.error || `HTTP ${res.status}`);
  return data;
}

// ─── rendering Telegram formatting ──────────────────────────────────────────────

/** Text with /commands made clickable, as Telegram clients do. */
function textWithCommands(text) {
  const frag = document.createDocumentFragment();
  const re = /(^|[\s(])(\/[A-Za-z0-9_]{1,32})(?![\w/])/g;
  let last = 0;
  let m;
  while ((m = re.exec(text))) {
    const start = m.index + m[1].length;
    frag.append(text.slice(last, start));
    const cmd = m[2];
    frag.append(el('span', { class: 'cmd', role: 'button', tabindex: '0', onclick: () => sendText(cmd) }, cmd));
    last = start + cmd.length;
  }
  frag.append(text.slice(last));
  return frag;
}

function renderNodes(nodes) {
  const frag = document.createDocumentFragment();
  for (const n of nodes) {
    if (n.type === 'text') {
      frag.append(textWithCommands(n.text));
      continue;
    }
    const kids = renderNodes(n.children);
    switch (n.tag) {
      case 'b': frag.append(el('strong', {}, kids)); break;
      case 'i': frag.append(el('em', {}, kids)); break;
      case 'u': frag.append(el('u', {}, kids)); break;
      case 's': frag.append(el('s', {}, kids)); break;
      case 'code': frag.append(el('code', {}, kids)); break;
      case 'pre': frag.append(el('pre', {}, kids)); break;
      case 'blockquote': frag.append(el('blockquote', {}, kids)); break;
      case 'spoiler': {
        const s = el('span', { class: 'spoiler', title: 'Spoiler: clic para ver' }, kids);
        s.addEventListener('click', () => s.classList.add('revealed'));
        frag.append(s);
        break;
      }
      case 'a': {
        const href = safeHref(n.attrs.href);
        frag.append(href ? el('a', { href, target: '_blank', rel: 'noopener noreferrer' }, kids) : el('span', {}, kids));
        break;
      }
      default: frag.append(el('span', {}, kids));
    }
  }
  return frag;
}

function renderRich(text, parseMode) {
  if (parseMode === 'HTML') return renderNodes(parseTelegramHtml(text).nodes);
  if (parseMode === 'MarkdownV2' || parseMode === 'Markdown') return textWithCommands(unescapeMarkdownV2(text));
  return textWithCommands(text);
}

function renderKeyboard(m) {
  const markup = m.reply_markup || {};
  // A reply keyboard (custom keyboard): its buttons send their text, as in Telegram.
  if (Array.isArray(markup.keyboard) && markup.keyboard.length) {
    return el(
      'div',
      { class: 'keyboard', title: 'Teclado de respuesta' },
      markup.keyboard.map((row) =>
        el('div', { class: 'kb-row' }, row.map((b) => {
          const text = typeof b === 'string' ? b : b.text;
          return el('button', { type: 'button', class: 'kb-btn reply', onclick: () => sendText(text) }, text);
        })),
      ),
    );
  }
  const rows = Array.isArray(markup.inline_keyboard) ? markup.inline_keyboard : null;
  if (!rows || rows.length === 0) return null;
  return el(
    'div',
    { class: 'keyboard' },
    rows.map((row) =>
      el(
        'div',
        { class: 'kb-row' },
        row.map((b) => {
          if (b.callback_data !== undefined) {
            const btn = el('button', { type: 'button', class: 'kb-btn', dataset: { data: b.callback_data } }, b.text);
            btn.addEventListener('click', () => press(m.message_id, b.callback_data, btn));
            return btn;
          }
          if (b.url && /^https:\/\/t\.me\/\$[\w-]+$/.test(b.url)) {
            // An invoice link (createInvoiceLink): Telegram opens the payment sheet.
            const btn = el('button', { type: 'button', class: 'kb-btn pay', title: b.url }, `${b.text} ⭐`);
            btn.addEventListener('click', () => pay({ link: b.url }, btn));
            return btn;
          }
          if (b.url) {
            const href = safeHref(b.url);
            return el('button', { type: 'button', class: 'kb-btn', title: b.url, onclick: () => href && window.open(href, '_blank', 'noopener') }, `${b.text} ↗`);
          }
          return el('button', { type: 'button', class: 'kb-btn', disabled: true, title: 'Tipo de botón no emulado' }, b.text);
        }),
      ),
    ),
  );
}

function renderFile(m) {
  const d = m.document;
  if (!d) return null;
  const size = d.file_size ? `${(d.file_size / 1024).toFixed(d.file_size < 10240 ? 1 : 0)} KB` : '';
  const kind = m.media ? m.media.kind : 'document';
  const icon = { photo: '🖼', video: '🎬', audio: '🎵', voice: '🎤', animation: '🎞', sticker: '🏷' }[kind] || '📄';
  // An uploaded photo (e.g. the /economia chart) is shown as Telegram shows it; a link to it opens it full size.
  if (kind === 'photo' && d.file_size && /^image\//.test(d.mime_type || '')) {
    const src = `/dev/files/${encodeURIComponent(d.file_id)}`;
    return el('a', { class: 'photo', href: src, target: '_blank', rel: 'noopener' }, el('img', { src, alt: d.file_name || 'foto', style: 'max-width:100%;border-radius:8px;display:block' }));
  }
  return el(
    'div',
    { class: 'file' },
    el('div', { class: 'file-icon', 'aria-hidden': 'true' }, icon),
    el(
      'div',
      {},
      d.file_size ? el('a', { href: `/dev/files/${encodeURIComponent(d.file_id)}`, download: d.file_name || 'archivo' }, d.file_name || 'archivo') : el('strong', {}, d.file_name || kind),
      el('div', { class: 'file-size' }, [kind, size, d.mime_type].filter(Boolean).join(' · ')),
    ),
  );
}

function renderQuote(m) {
  if (m.reply_to === undefined) return null;
  const q = state.messages.get(m.reply_to);
  const who = !q ? '' : q.from === 'bot' ? state.bot?.first_name ?? 'bot' : userName(q.sender?.id ?? q.chat_id);
  const text = !q ? 'mensaje' : q.text !== undefined ? (q.parse_mode === 'HTML' ? plainOf(q.text) : q.text) : q.caption ?? q.document?.file_name ?? '';
  return el('div', { class: 'quote', 'data-testid': 'quote' }, el('strong', {}, who), el('span', {}, ` ${text.slice(0, 80)}`));
}

function plainOf(html) {
  const box = document.createElement('div');
  box.append(renderNodes(parseTelegramHtml(html).nodes));
  return box.textContent ?? '';
}

function startReply(m) {
  state.replyTo = m.message_id;
  const who = m.from === 'bot' ? state.bot?.first_name ?? 'bot' : userName(m.sender?.id ?? m.chat_id);
  const text = m.text !== undefined ? (m.parse_mode === 'HTML' ? plainOf(m.text) : m.text) : m.caption ?? '';
  $('reply-text').textContent = `${who}: ${text.slice(0, 80)}`;
  $('reply-bar').hidden = false;
  $('composer-input').focus();
}

function cancelReply() {
  state.replyTo = null;
  $('reply-bar').hidden = true;
}

/** A Stars invoice with its Pay button: pre-checkout, then the payment, as Telegram does. */
function renderInvoice(m) {
  const inv = m.invoice;
  const btn = el('button', { type: 'button', class: 'kb-btn pay', 'data-testid': 'pay', disabled: Boolean(inv.paid_charge_id) }, inv.paid_charge_id ? 'Pagado ✓' : `Pagar ${inv.total_amount} ⭐`);
  btn.addEventListener('click', () => pay({ message_id: m.message_id }, btn));
  return el('div', { class: 'invoice' }, el('strong', {}, inv.title), el('div', {}, inv.description), el('div', { class: 'muted' }, `${inv.total_amount} ⭐ (Telegram Stars)`), btn);
}

async function pay(source, btn) {
  btn.classList.add('loading');
  try {
    const r = await api(`/dev/chats/${state.current}/pay`, source);
    if (!r.ok) notice(`Pago rechazado: ${r.error || ''}`, 'error');
  } catch (err) {
    notice(`Pago: ${err.message}`, 'error');
  } finally {
    btn.classList.remove('loading');
  }
}

function renderMessage(m) {
  const bubble = el('div', { class: 'bubble' });
  if (isGroup(m.chat_id) && m.from === 'user' && m.sender) bubble.append(el('div', { class: 'sender', style: `color:${colorFor(m.sender.id)}` }, m.sender.first_name));
  const quote = renderQuote(m);
  if (quote) bubble.append(quote);
  const file = renderFile(m);
  if (file) bubble.append(file);
  if (m.text !== undefined) bubble.append(renderRich(m.text, m.parse_mode));
  if (m.caption !== undefined) bubble.append(renderRich(m.caption, m.parse_mode));
  if (m.media && !m.document) bubble.append(el('div', { class: 'muted' }, `[${m.media.kind}]\n${m.media.summary}`));
  if (m.invoice) bubble.append(renderInvoice(m));
  bubble.append(el('div', { class: 'meta' }, `${m.edit_date ? 'editado · ' : ''}${timeOf(m.edit_date || m.date)}`));
  const counts = Object.values(m.reactions ?? {}).reduce((acc, e) => ((acc[e] = (acc[e] ?? 0) + 1), acc), {});
  if (Object.keys(counts).length) bubble.append(el('div', { class: 'reactions', 'data-testid': 'reactions' }, Object.entries(counts).map(([e, n]) => `${e} ${n}`).join('  ')));
  const reply = el('button', { type: 'button', class: 'reply-btn', title: 'Responder a este mensaje', 'aria-label': 'Responder', onclick: () => startReply(m) }, '↩');
  if (isGroup(m.chat_id)) {
    // In the group the bot is an administrator: a reaction reaches it (message_reaction) and may earn besitos.
    const mineR = m.reactions?.[String(state.speaker)];
    bubble.append(el('button', { type: 'button', class: 'react-btn', 'data-testid': 'react', title: mineR ? 'Quitar tu reacción' : 'Reaccionar con ❤️', onclick: () => react(m, mineR ? null : '❤') }, mineR ? `${mineR} ✕` : '❤️ +'));
  }
  const mine = m.from === 'user' && (m.sender?.id ?? m.chat_id) === actingUser();
  return el('div', { class: `msg ${mine || (m.from === 'user' && !isGroup(m.chat_id)) ? 'user' : m.from === 'user' ? 'other' : 'bot'}`, dataset: { id: String(m.message_id) }, 'data-testid': m.from === 'bot' ? 'bot-message' : 'user-message' }, bubble, reply, renderKeyboard(m));
}

function nearBottom(box) {
  return box.scrollHeight - box.scrollTop - box.clientHeight < 120;
}

function upsertMessage(m) {
  const box = $('messages');
  const stick = nearBottom(box) || m.from === 'user';
  const existing = box.querySelector(`.msg[data-id="${m.message_id}"]`);
  state.messages.set(m.message_id, m);
  if (m.deleted) {
    existing?.remove();
    return;
  }
  const node = renderMessage(m);
  if (existing) existing.replaceWith(node);
  else {
    $('empty')?.remove();
    const later = [...box.querySelectorAll('.msg')].find((n) => Number(n.dataset.id) > m.message_id);
    if (later) box.insertBefore(node, later);
    else box.append(node);
  }
  if (stick) box.scrollTop = box.scrollHeight;
}

function notice(text, kind = '') {
  const box = $('messages');
  $('empty')?.remove();
  box.append(el('div', { class: `notice ${kind}`, 'data-testid': 'notice' }, text));
  box.scrollTop = box.scrollHeight;
}

function toast(text, alert) {
  if (alert) {
    $('alert-text').textContent = text;
    $('alert').hidden = false;
    $('alert-ok').focus();
    return;
  }
  const t = $('toast');
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (t.hidden = true), 3500);
}

// ─── users ──────────────────────────────────────────────────────────────────────

function renderUsers() {
  const list = $('users');
  list.replaceChildren(
    ...state.users.map((u) => {
      const unread = state.unread.get(u.id) || 0;
      return el(
        'li',
        {},
        el(
          'button',
          { type: 'button', class: 'user', 'aria-current': String(u.id === state.current), dataset: { userId: String(u.id) }, onclick: () => selectUser(u.id) },
          el('div', { class: 'avatar', style: `background:${colorFor(u.id)}` }, initial(u.first_name)),
          el('div', { class: 'user-text' }, el('div', { class: 'user-name' }, u.first_name), el('div', { class: 'user-meta' }, `${u.username ? `@${u.username} · ` : ''}id ${u.id}`)),
          u.blocked ? el('span', { class: 'user-blocked', title: 'Bloqueó al bot' }, '🚫') : null,
          unread ? el('span', { class: 'badge' }, String(unread)) : null,
        ),
      );
    }),
  );
  if (state.users.length === 0) list.append(el('li', { class: 'muted', style: 'padding:6px 12px;font-size:13.5px' }, 'Aún no hay usuarios.'));
  for (const li of list.querySelectorAll('li')) {
    const btn = li.querySelector('.user');
    if (!btn) continue;
    const id = Number(btn.dataset.userId);
    li.classList.add('user-row');
    li.append(el('button', { type: 'button', class: 'user-del', title: 'Eliminar este usuario de prueba de la página', 'aria-label': `Eliminar a ${userName(id)}`, onclick: () => deleteUser(id) }, '✕'));
  }
  renderGroups();
}

function renderGroups() {
  const list = $('groups');
  list.replaceChildren(
    ...state.groups.map((g) => {
      const unread = state.unread.get(g.id) || 0;
      return el(
        'li',
        {},
        el(
          'button',
          { type: 'button', class: 'user', 'aria-current': String(g.id === state.current), dataset: { chatId: String(g.id) }, 'data-testid': 'group', onclick: () => selectUser(g.id) },
          el('div', { class: 'avatar', style: 'background:#495057' }, '👥'),
          el('div', { class: 'user-text' }, el('div', { class: 'user-name' }, g.title), el('div', { class: 'user-meta' }, `${state.users.length} miembros · id ${g.id}`)),
          unread ? el('span', { class: 'badge' }, String(unread)) : null,
        ),
      );
    }),
  );
  $('new-group').hidden = state.groups.length > 0;
}

async function deleteUser(id) {
  if (!confirm(`¿Eliminar a ${userName(id)} de la página? Su chat se borra aquí; lo que guardó el bot sigue en la base de datos.`)) return;
  try {
    await api(`/dev/users/${id}`, undefined, 'DELETE');
    if (state.current === id) state.current = null;
    if (state.speaker === id) state.speaker = null;
    await loadState();
    const next = state.users.at(-1);
    if (state.current === null && next) await selectUser(next.id);
  } catch (err) {
    notice(`No se pudo eliminar: ${err.message}`, 'error');
  }
}

function renderSpeaker() {
  const group = isGroup(state.current);
  const select = $('speaker');
  select.hidden = !group;
  if (!group) return;
  if (!state.users.some((u) => u.id === state.speaker)) state.speaker = state.users[0]?.id ?? null;
  select.replaceChildren(...state.users.map((u) => el('option', { value: String(u.id), selected: u.id === state.speaker }, u.first_name)));
}

async function selectUser(id) {
  state.current = id;
  state.unread.delete(id);
  localStorage.setItem('dianabot.dev.user', String(id));
  history.replaceState(null, '', `#user=${id}`);
  const u = state.users.find((x) => x.id === id);
  const g = state.groups.find((x) => x.id === id);
  cancelReply();
  $('chat-avatar').textContent = g ? '👥' : initial(u?.first_name);
  $('chat-avatar').style.background = g ? '#495057' : colorFor(id);
  $('chat-name').textContent = g ? g.title : u ? u.first_name : String(id);
  renderSpeaker();
  setSubtitle();
  for (const b of ['composer-input', 'send', 'menu-btn']) $(b).disabled = false;
  renderUsers();
  renderBlockButton();
  const box = $('messages');
  box.replaceChildren();
  state.messages.clear();
  const messages = await api(`/dev/chats/${id}/messages`);
  if (state.current !== id) return;
  if (messages.length === 0) {
    box.append(el('div', { class: 'empty', id: 'empty' }, el('div', { class: 'empty-icon' }, '👋'), el('p', {}, 'Chat nuevo. Empieza con '), el('p', {}, el('span', { class: 'cmd', onclick: () => sendText('/start') }, '/start'))));
  }
  for (const m of messages) upsertMessage(m);
  box.scrollTop = box.scrollHeight;
  refreshLedger();
  $('composer-input').focus();
}

function renderBlockButton() {
  const u = state.users.find((x) => x.id === state.current); // none in the group
  const btn = $('block-btn');
  btn.hidden = !u;
  btn.textContent = u?.blocked ? 'Desbloquear bot' : 'Bloquear bot';
  btn.classList.toggle('on', Boolean(u?.blocked));
}

function setSubtitle(typing = false) {
  const u = state.users.find((x) => x.id === state.current);
  const sub = $('chat-sub');
  sub.classList.toggle('typing', typing);
  const g = state.groups.find((x) => x.id === state.current);
  sub.textContent = typing
    ? `${state.bot?.first_name ?? 'el bot'} está escribiendo…`
    : g
      ? `grupo con @${state.bot?.username ?? 'bot'} y ${state.users.length} usuarios de prueba · escribes como ${userName(state.speaker)}`
      : `chat privado con @${state.bot?.username ?? 'bot'} · ${u?.username ? `@${u.username} · ` : ''}id ${state.current}`;
}

// ─── wallet ─────────────────────────────────────────────────────────────────────

function refreshLedger() {
  clearTimeout(state.ledgerTimer);
  state.ledgerTimer = setTimeout(loadLedger, 150);
}

async function loadLedger() {
  const id = actingUser();
  if (!id) return;
  const data = await api(`/dev/users/${id}/ledger`).catch(() => null);
  if (!data || actingUser() !== id) return;
  $('wallet-who').textContent = isGroup(state.current) ? `de ${userName(id)}` : '';
  $('balance').textContent = data.registered ? fmtBesitos(data.besitos) : '—';
  $('balance-sub').textContent = data.registered ? `Ganados en total: ${fmtBesitos(data.lifetime)}` : 'Aún no habla con el bot';
  $('ledger-count').textContent = data.entries.length ? `(${data.entries.length}${data.more ? '+' : ''})` : '';
  const list = $('ledger');
  if (!data.entries.length) {
    list.replaceChildren(el('li', { class: 'l-empty' }, data.registered ? 'Sin movimientos todavía. Prueba /daily.' : 'Escribe /start para registrarte.'));
    return;
  }
  list.replaceChildren(
    ...data.entries.map((e) =>
      el(
        'li',
        { 'data-testid': 'ledger-entry', title: `${e.type} · ${e.source}${e.description ? ` · ${e.description}` : ''} · #${e.id}` },
        el('span', { class: 'l-label' }, e.type === 'reversal' ? `Deshecho · ${e.label}` : e.label),
        el('span', { class: `l-amount ${e.amount > 0 ? 'plus' : 'minus'}` }, `${e.amount > 0 ? '+' : '−'}${Math.abs(e.amount)}`),
        el('span', { class: 'l-date', title: state.timeZone }, e.when ?? formatStamp(new Date(e.createdAt), state.timeZone, new Date())),
        el('span', { class: 'l-after' }, `saldo ${e.balanceAfter}`),
      ),
    ),
  );
}

// ─── sending ────────────────────────────────────────────────────────────────────

async function sendText(text) {
  if (!state.current || !text.trim()) return;
  hideMenu();
  try {
    const body = { text, ...(isGroup(state.current) ? { from: state.speaker } : {}), ...(state.replyTo ? { reply_to: state.replyTo } : {}) };
    cancelReply();
    const r = await api(`/dev/chats/${state.current}/messages`, body);
    if (r.delivery.status >= 400 || r.delivery.status === 0) notice(`El webhook respondió ${r.delivery.status || 'sin conexión'}: ${r.delivery.body}`, 'error');
  } catch (err) {
    notice(`No se pudo enviar: ${err.message}`, 'error');
  }
}

async function press(messageId, data, btn) {
  btn.classList.add('loading');
  try {
    const r = await api(`/dev/chats/${state.current}/callback`, { message_id: messageId, data, ...(isGroup(state.current) ? { from: state.speaker } : {}) });
    if (r.delivery.status >= 400 || r.delivery.status === 0) notice(`El webhook respondió ${r.delivery.status || 'sin conexión'}: ${r.delivery.body}`, 'error');
  } catch (err) {
    notice(`Botón: ${err.message}`, 'error');
  } finally {
    btn.classList.remove('loading');
  }
}

async function react(m, emoji) {
  try {
    const r = await api(`/dev/chats/${state.current}/reaction`, { message_id: m.message_id, from: state.speaker, emoji });
    if (r.delivery.status >= 400 || r.delivery.status === 0) notice(`El webhook respondió ${r.delivery.status || 'sin conexión'}: ${r.delivery.body}`, 'error');
  } catch (err) {
    notice(`Reacción: ${err.message}`, 'error');
  }
}

// ─── command menu ───────────────────────────────────────────────────────────────

function showMenu(filter = '') {
  const menu = $('command-menu');
  const items = state.commands.filter((c) => `/${c.command}`.startsWith(filter || '/'));
  if (!items.length) return hideMenu();
  menu.replaceChildren(
    ...items.map((c) =>
      el('button', { type: 'button', onclick: () => { $('composer-input').value = ''; sendText(`/${c.command}`); } }, el('span', { class: 'c' }, `/${c.command}`), el('span', { class: 'd' }, c.description)),
    ),
  );
  menu.hidden = false;
}
function hideMenu() {
  $('command-menu').hidden = true;
}

// ─── live events ────────────────────────────────────────────────────────────────

function onEvent(ev) {
  const mine = ev.chat_id === state.current;
  switch (ev.type) {
    case 'message':
      if (mine) {
        upsertMessage(ev.message);
        if (ev.message.from === 'bot') {
          clearTimeout(state.typingTimer);
          setSubtitle(false);
        }
        refreshLedger();
      } else if (ev.message.from === 'bot' && !ev.message.edit_date && (state.users.some((u) => u.id === ev.chat_id) || isGroup(ev.chat_id))) {
        state.unread.set(ev.chat_id, (state.unread.get(ev.chat_id) || 0) + 1);
        renderUsers();
      }
      break;
    case 'ledger':
      // Any movement of the user the panel shows (an undo by the other party, a scheduled job …).
      if (ev.chat_id === actingUser()) refreshLedger();
      break;
    case 'action':
      if (mine) {
        setSubtitle(true);
        clearTimeout(state.typingTimer);
        state.typingTimer = setTimeout(() => setSubtitle(false), 5000);
      }
      break;
    case 'toast':
      if (mine) toast(ev.text, ev.show_alert);
      break;
    case 'callback':
      if (mine && !ev.answered) notice('El bot no respondió al botón (answerCallbackQuery) en 15 s: en Telegram el botón se quedaría cargando.');
      break;
    case 'rejected':
      if (mine || ev.chat_id === null) notice(`Telegram rechazaría ${ev.method}: ${ev.description}`, 'error');
      break;
    case 'delivery':
      if (mine && ev.status >= 500) notice(`El webhook respondió ${ev.status} a la actualización ${ev.update_id}: Telegram la reintentará.`);
      break;
    case 'users':
      loadState();
      break;
  }
}

function connect() {
  const source = new EventSource('/dev/events');
  source.onmessage = (e) => onEvent(JSON.parse(e.data));
  let opened = false;
  source.onopen = () => {
    // After a reconnection, catch up on anything missed meanwhile.
    if (opened) loadState().then(() => state.current && selectUser(state.current)).catch(() => {});
    opened = true;
  };
}

async function loadState() {
  const s = await api('/dev/state');
  state.bot = s.bot;
  state.commands = s.commands;
  state.users = s.users;
  state.groups = s.groups ?? [];
  state.timeZone = s.timeZone ?? state.timeZone;
  $('bot-line').textContent = `@${s.bot.username} · emulador de Telegram`;
  renderUsers();
  if (state.current) {
    renderBlockButton();
    renderSpeaker();
    setSubtitle();
  }
  return s;
}

// ─── start ──────────────────────────────────────────────────────────────────────

$('composer').addEventListener('submit', (e) => {
  e.preventDefault();
  const input = $('composer-input');
  const text = input.value;
  input.value = '';
  sendText(text);
});
$('composer-input').addEventListener('input', (e) => {
  const v = e.target.value;
  if (v.startsWith('/') && !v.includes(' ')) showMenu(v);
  else hideMenu();
});
$('composer-input').addEventListener('keydown', (e) => {
  if (e.key === 'Escape') hideMenu();
});
$('menu-btn').addEventListener('click', () => ($('command-menu').hidden ? showMenu() : hideMenu()));
document.addEventListener('click', (e) => {
  if (!e.target.closest('#command-menu') && !e.target.closest('#menu-btn')) hideMenu();
});
$('alert-ok').addEventListener('click', () => ($('alert').hidden = true));
$('reply-cancel').addEventListener('click', cancelReply);
$('speaker').addEventListener('change', (e) => {
  state.speaker = Number(e.target.value);
  for (const m of state.messages.values()) upsertMessage(m);
  setSubtitle();
  refreshLedger();
});
$('new-group').addEventListener('click', async () => {
  try {
    const g = await api('/dev/groups', {});
    await loadState();
    await selectUser(g.id);
  } catch (err) {
    notice(`No se pudo crear el grupo: ${err.message}`, 'error');
  }
});
$('block-btn').addEventListener('click', async () => {
  const u = state.users.find((x) => x.id === state.current);
  if (!u) return;
  try {
    const r = await api(`/dev/users/${u.id}/block`, { blocked: !u.blocked });
    notice(r.blocked ? `${u.first_name} bloqueó al bot: los mensajes del bot fallarán con 403 hasta que escriba de nuevo.` : `${u.first_name} desbloqueó al bot.`);
  } catch (err) {
    notice(`No se pudo: ${err.message}`, 'error');
  }
});
$('new-user').addEventListener('submit', async (e) => {
  e.preventDefault();
  $('new-user-error').textContent = '';
  try {
    const u = await api('/dev/users', { first_name: $('new-name').value, username: $('new-username').value });
    $('new-name').value = '';
    $('new-username').value = '';
    await loadState();
    await selectUser(u.id);
  } catch (err) {
    $('new-user-error').textContent = err.message;
  }
});

const s = await loadState();
const wanted = Number((location.hash.match(/user=(-?\d+)/) || [])[1] || localStorage.getItem('dianabot.dev.user'));
const first = s.users.find((u) => u.id === wanted) ?? s.groups?.find((g) => g.id === wanted) ?? s.users[s.users.length - 1];
connect();
if (first) await selectUser(first.id);
