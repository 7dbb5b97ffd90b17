/** /estado: admins see the scheduled jobs' queue (due, running, failed); others are refused. */
import { describe, expect, it } from 'vitest';
import { startTestApp, textUpdate } from '../support/app.js';
import { uniqueTelegramId } from '../support/db.js';

const ADMIN = uniqueTelegramId();
const now = new Date('2026-07-01T18:00:00Z');
const t = await startTestApp({ ADMIN_USER_IDS: String(ADMIN) }, { clock: () => new Date(now) });
const min = (n: number) => new Date(now.getTime() + n * 60_000);

describe('/estado', () => {
  it('a non-admin is refused and sees nothing of the queue', async () => {
    const user = uniqueTelegramId();
    await t.post(textUpdate(user, '/estado'));
    expect(t.telegram.sentTexts(user)).toEqual(['Ese comando es solo para administradores.']);
  });

  it('an admin sees the counts, the next jobs, the running and the failed ones with their error', async () => {
    await t.app.db`
      INSERT INTO scheduled_jobs (kind, key, payload, due_at, run_at, state, attempts, last_error, finished_at) VALUES
        ('vip.reminder', 'vip.reminder:1', '{}', ${min(-90)}, ${min(-90)}, 'pending', 0, NULL, NULL),
        ('vip.reminder', 'vip.reminder:2', '{}', ${min(30)}, ${min(30)}, 'pending', 0, NULL, NULL),
        ('post.publish', 'post:7', '{}', ${min(-1)}, ${min(1)}, 'running', 1, NULL, NULL),
        ('post.publish', 'post:<b>8</b>', '{}', ${min(-60)}, ${min(-30)}, 'failed', 5, 'Error: chat not found <script>', ${min(-30)})`;
    await t.post(textUpdate(ADMIN, '/estado'));
    const [text] = t.telegram.sentTexts(ADMIN).slice(-1);
    expect(text).toContain('Tareas programadas');
    expect(text).toMatch(/Vencidas sin ejecutar: <b>1<\/b> · Programadas: <b>\d+<\/b> · En curso: <b>1<\/b> · Fallidas: <b>1<\/b>/);
    expect(text).toContain('<code>vip.reminder:1</code> — vencida hace 1 h 30 min');
    expect(text).toContain('<code>vip.reminder:2</code> — hoy 12:30');
    expect(text).toContain('<code>post:7</code> — en curso (intento 1');
    expect(text).toContain('<code>post:&lt;b&gt;8&lt;/b&gt;</code> — falló 5 veces: <i>Error: chat not found &lt;script&gt;</i>');
  });
});
