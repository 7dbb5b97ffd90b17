import type { VercelRequest, VercelResponse } from '@vercel/node';
import { getApp } from '../lib/app.js';

/** Telegram webhook: the logic is in lib/webhook/handle.ts. */
export default async function handler(req: VercelRequest, res: VercelResponse) {
  const app = await getApp();
  let body: unknown;
  try {
    body = req.body; // @vercel/node parses JSON lazily and throws on a malformed body
  } catch {
    body = '';
  }
  const result = await app.webhook({ method: req.method, headers: req.headers, body });
  // A webhook reply (a Bot API call for Telegram to run) must say it is JSON.
  if (result.contentType) res.setHeader('content-type', result.contentType);
  res.status(result.status).send(result.body);
}
