import type { PostRow } from '../admin/posts.js';
import { escapeHtml } from './html.js';

const fmt = new Map<string, Intl.DateTimeFormat>();
const when = (at: Date, tz: string) => {
  let f = fmt.get(tz);
  if (!f) fmt.set(tz, (f = new Intl.DateTimeFormat('es-MX', { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone: tz })));
  return f.format(at);
};

/** Spanish texts of /publicar. */
export const postMessages = {
  usage:
    '<b>Publicar en un canal</b>\n' +
    '<code>/publicar vip|gratis|id_del_canal [AAAA-MM-DD HH:MM] [protegido]</code>\n' +
    'y, en las líneas siguientes, el texto. Opcional, una por línea:\n' +
    '<code>foto: https://…</code> o <code>video: https://…</code>\n' +
    '<code>boton: Texto | https://…</code>\n' +
    '<code>enlace: Texto | fragmento_o_mision</code> (abre el bot en esa parte de la historia)\n\n' +
    'Sin fecha se publica ya. «protegido» impide reenviar y guardar.\n' +
    '<code>/publicar lista</code> · <code>/publicar mover N AAAA-MM-DD HH:MM</code> · <code>/publicar borrar N</code>',
  unknownTarget: 'No sé en qué canal publicar: usa <code>vip</code>, <code>gratis</code> o el id de un canal que administro (mira /canales).',
  badDate: 'Fecha no válida: usa <code>AAAA-MM-DD HH:MM</code> (hora local del bot).',
  pastDate: 'Esa fecha ya pasó. Para publicar ahora, no pongas fecha.',
  badButton: 'Botón no válido: <code>boton: Texto | https://…</code>',
  badDeepLink: 'Enlace no válido: <code>enlace: Texto | clave</code> (letras, números, _ y -).',
  invalid: (why: string) => `No pude preparar la publicación: ${escapeHtml(why)}`,
  scheduled: (id: number, at: Date | null, protect: boolean, tz: string) =>
    `✅ Publicación #${id} ${at ? `programada para el <b>${when(at, tz)}</b>` : 'en cola para publicarse ahora'}${protect ? ' (protegida: no se podrá reenviar)' : ''}.\nCámbiala con <code>/publicar mover ${id} …</code> o bórrala con <code>/publicar borrar ${id}</code>.`,
  moved: (id: number, at: Date, tz: string) => `✅ Publicación #${id} movida al <b>${when(at, tz)}</b>.`,
  cancelled: (id: number) => `🗑 Publicación #${id} borrada; no se publicará.`,
  tooLate: (id: number) => `La publicación #${id} ya se publicó, se borró o no existe.`,
  list: (posts: PostRow[], tz: string) =>
    (posts.length
      ? '<b>Publicaciones programadas</b>\n' +
        posts.map((p) => `#${p.id} · ${when(p.publish_at!, tz)} · ${escapeHtml(p.text.slice(0, 40))}${p.protect ? ' · 🔒' : ''}`).join('\n')
      : 'No hay publicaciones programadas.') +
    '\n\n' +
    postMessages.usage,
};
