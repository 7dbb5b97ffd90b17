// The bot's clock control (npm run dev): moves the time the bot sees, so daily gifts, streaks,
// reminders and expiries can be tried by hand. Self-contained: it adds its own panel to the page.
const STEPS = [
  ['hour', '+1 hora'],
  ['day', '+1 día'],
  ['week', '+1 semana'],
  ['now', 'Volver a ahora'],
];

const panel = document.createElement('section');
panel.className = 'bot-clock';
panel.dataset.testid = 'bot-clock';
panel.setAttribute('aria-label', 'Reloj del bot');
panel.style.cssText =
  'background:#fff;border:1px solid #d0d7de;border-radius:10px;padding:8px 10px;margin-bottom:12px;' +
  'font:13px system-ui,sans-serif;color:#1f2328';
panel.innerHTML =
  '<div style="font-weight:600;margin-bottom:2px">🕰️ Reloj del bot</div>' +
  '<div id="bot-clock-now" data-testid="bot-clock-now">…</div>' +
  '<div id="bot-clock-offset" style="color:#656d76;margin-bottom:6px"></div>' +
  '<div id="bot-clock-buttons" style="display:flex;flex-wrap:wrap;gap:4px"></div>' +
  '<div id="bot-clock-note" role="status" style="color:#656d76;margin-top:4px"></div>';

const $ = (id) => panel.querySelector(`#${id}`);
// The bot's own formatter and zone (lib/time/format.ts via the dev server), as everywhere on the page.
import { formatDate, formatTime, zoneLabel } from './format.js';
let zone = 'America/Mexico_City';
let reshow;
fetch('/dev/state').then((r) => r.json()).then((s) => { zone = s.timeZone ?? zone; reshow?.(); }).catch(() => {});
const fmt = { format: (d) => `${formatDate(d, zone)}, ${formatTime(d, zone)} (${zoneLabel(zone)})` };

function describeOffset(ms) {
  if (ms === 0) return 'hora real';
  const days = Math.floor(ms / 86_400_000);
  const hours = Math.round((ms % 86_400_000) / 3_600_000);
  const parts = [];
  if (days) parts.push(`${days} ${days === 1 ? 'día' : 'días'}`);
  if (hours) parts.push(`${hours} h`);
  return `adelantado ${parts.join(' ') || 'unos minutos'}`;
}

function show(state) {
  reshow = () => ($('bot-clock-now').textContent = fmt.format(new Date(state.now)));
  $('bot-clock-now').textContent = fmt.format(new Date(state.now));
  $('bot-clock-offset').textContent = describeOffset(state.offsetMs);
}

async function move(step, button) {
  for (const b of panel.querySelectorAll('button')) b.disabled = true;
  try {
    const res = await fetch('/dev/clock', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ step }) });
    const body = await res.json();
    if (!res.ok) throw new Error(body.error || res.statusText);
    show(body);
    $('bot-clock-note').textContent = body.jobsRun ? `${body.jobsRun} tarea(s) programada(s) ejecutada(s)` : '';
  } catch (err) {
    $('bot-clock-note').textContent = `No se pudo mover el reloj: ${err.message}`;
  } finally {
    for (const b of panel.querySelectorAll('button')) b.disabled = false;
    button.focus();
  }
}

for (const [step, label] of STEPS) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = label;
  b.dataset.step = step;
  b.style.cssText = 'padding:3px 8px;border-radius:6px;border:1px solid #d0d7de;background:#f6f8fa;cursor:pointer';
  b.addEventListener('click', () => move(step, b));
  $('bot-clock-buttons').append(b);
}

// At the top of the wallet column when the page has one (never over the chat's controls), else floating.
const host = document.getElementById('wallet');
if (host) host.prepend(panel);
else {
  panel.style.position = 'fixed';
  panel.style.right = '12px';
  panel.style.bottom = '84px';
  panel.style.zIndex = '50';
  document.body.append(panel);
}
const refresh = () => fetch('/dev/clock').then((r) => r.json()).then(show).catch(() => {});
refresh();
setInterval(refresh, 30_000);
