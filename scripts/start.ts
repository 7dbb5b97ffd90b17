// npm start: the same server as `npm run dev`, on real services from the environment
// (DATABASE_URL, TELEGRAM_BOT_TOKEN, TELEGRAM_WEBHOOK_SECRET; REDIS_URL or Upstash for key-value).
import { main } from '../dev/server.js';

await main('start');
