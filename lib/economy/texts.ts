import { escapeHtml } from '../bot/html.js';
import type { UserRef } from '../users/lookup.js';
import type { FlagRow } from './repository.js';

/** Spanish names of the ledger's sources and sinks, for admins (unknown ones are shown as they are). */
export const SOURCE_NAMES: Record<string, string> = {
  '*': 'todas las fuentes',
  daily: 'regalo diario',
  mission: 'misiones',
  achievement: 'logros',
  trivia: 'trivia',
  story: 'historia',
  gift: 'regalos entre usuarios',
  shop: 'tienda',
  admin: 'administración',
  reaction: 'reacciones',
  referral: 'referidos',
  narrative: 'historia',
  auction: 'subastas',
  tax: 'impuesto (quemado)',
  expire: 'caducados',
  bonus: 'bonos',
};

export const sourceName = (s: string) => SOURCE_NAMES[s] ?? s;

export const FLAG_KIND_NAMES: Record<FlagRow['kind'], string> = {
  outlier: 'gana muy por encima del resto',
  over_cap: 'más de lo que permite el tope',
  unmatched: 'besitos sin acción que los explique',
};

/** How admins see a user (plain text; escape it for HTML): @username, else the first name, and the internal id. */
export function userLabel(u: Pick<UserRef, 'username' | 'firstName'> | null | undefined, id: number): string {
  const raw = u?.username ? `@${u.username}` : u?.firstName ? u.firstName : null;
  if (!raw) return `#${id} (cuenta borrada)`;
  const one = raw.replace(/\s+/g, ' ').trim();
  return `${one.length > 32 ? `${one.slice(0, 31)}…` : one} (#${id})`;
}

/** Created on first use: an Intl formatter costs milliseconds of ICU loading at import (cold start). */
let nf: Intl.NumberFormat | undefined;
export const num = (n: number) => (nf ??= new Intl.NumberFormat('es-MX')).format(n);

export function flagLine(f: FlagRow, label: string): string {
  const what = FLAG_KIND_NAMES[f.kind];
  const src = escapeHtml(sourceName(f.source));
  const d = f.detail as Record<string, any>;
  const extra =
    f.kind === 'outlier'
      ? `${num(d.per_day ?? 0)}/día frente a una mediana de ${num(d.median_per_day ?? 0)}/día`
      : f.kind === 'over_cap'
        ? (d.periods ?? [])
            .map(
              (x: { period: string; key: string; grants: number; besitos: number; accounts?: unknown[] }) =>
                `${x.period === 'day' ? 'el' : 'la semana del'} ${x.key}: ${x.grants} concesión(es), ${num(x.besitos)} besitos` +
                (x.accounts && x.accounts.length > 1 ? ` entre ${x.accounts.length} cuentas de la misma persona` : ''),
            )
            .slice(0, 3)
            .join('; ')
        : `${num(d.grants ?? 0)} concesión(es)`;
  return `#${f.id} · ${escapeHtml(label)} — ${what} (${src}): <b>${num(f.amount)}</b> besitos, ${extra}`;
}

export const economyTexts = {
  newFlagsNotice: (flags: FlagRow[], label: (userId: number) => string) =>
    `🚨 <b>Economía: ${flags.length === 1 ? 'una alerta nueva' : `${flags.length} alertas nuevas`}</b>\n\n` +
    flags.slice(0, 10).map((f) => `• ${flagLine(f, label(f.userId))}`).join('\n') +
    (flags.length > 10 ? `\n… y ${flags.length - 10} más.` : '') +
    `\n\nNo se aplicó ninguna sanción. Revísalas con /economia alertas; para devolver besitos mal concedidos usa /revertir.`,
};
