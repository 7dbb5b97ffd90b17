// npm run set-webhook [-- <public base url>] — registers the webhook with Telegram.
import { getConfig } from '../lib/config.js';
import { callApi } from '../lib/telegram/api.js';
import { ALLOWED_UPDATES } from '../lib/webhook/allowed-updates.js';
import { scriptTelegram } from './telegram-api.js';

const config = getConfig();
const base = process.argv[2] ?? config.PUBLIC_URL;
if (!base) {
  console.error('Indica la URL pública: npm run set-webhook -- https://tu-app.vercel.app (o define PUBLIC_URL).');
  process.exit(1);
}
if (!config.TELEGRAM_WEBHOOK_SECRET) {
  console.error('TELEGRAM_WEBHOOK_SECRET no está definido: Telegram lo enviará en cada llamada y el webhook lo exige.');
  process.exit(1);
}
const url = new URL('/api/telegram', base).toString();
const telegram = scriptTelegram();
// Typed with the current Bot API: allowed_updates lists kinds telegraf's types lack (subscription).
await callApi(telegram, 'setWebhook', {
  url,
  secret_token: config.TELEGRAM_WEBHOOK_SECRET,
  allowed_updates: [...ALLOWED_UPDATES],
  max_connections: 40,
  drop_pending_updates: false,
});
const info = await telegram.getWebhookInfo();
console.log(`Webhook registrado en ${info.url}`);
console.log(`Tipos de update: ${(info.allowed_updates ?? []).join(', ')}`);
if (info.last_error_message) console.warn(`Último error que vio Telegram: ${info.last_error_message}`);
