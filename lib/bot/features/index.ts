import type { Composer } from 'telegraf';
import type { BotContext } from '../context.js';
import { actividadFeature } from './actividad.js';
import { balanceFeature } from './balance.js';
import { dailyFeature } from './daily.js';
import { gamificacionFeature } from './gamificacion.js';
import { eventosFeature } from './eventos.js';
import { helpFeature } from './help.js';
import { historyFeature } from './history.js';
import { perfilFeature } from './perfil.js';
import { privacidadFeature } from './privacidad.js';
import { regalarFeature } from './regalar.js';
import { startFeature } from './start.js';
import { vipAdminFeature } from './vip-admin.js';
import { vipFeature } from './vip.js';

/** Every feature, in the order they get a chance at an update. Add new ones here. */
export const features: Composer<BotContext>[] = [startFeature, helpFeature, balanceFeature, historyFeature, dailyFeature, eventosFeature, perfilFeature, regalarFeature, gamificacionFeature, actividadFeature, privacidadFeature, vipFeature, vipAdminFeature];

/** The command menu registered with setMyCommands (scripts/set-commands.ts). */
export const commandMenu = [
  { command: 'start', description: 'Bienvenida' },
  { command: 'daily', description: 'Reclama tu regalo diario' },
  { command: 'balance', description: 'Tus besitos' },
  { command: 'history', description: 'Tus últimos movimientos' },
  { command: 'perfil', description: 'Tu perfil' },
  { command: 'regalar', description: 'Regala besitos a alguien' },
  { command: 'misiones', description: 'Tus misiones y su progreso' },
  { command: 'logros', description: 'Tus logros' },
  { command: 'tienda', description: 'La tienda de Diana' },
  { command: 'mochila', description: 'Tus objetos' },
  { command: 'actividad', description: 'Tus últimas acciones' },
  { command: 'privacidad', description: 'Tus datos: qué guardamos, exportar, borrar' },
  { command: 'vip', description: 'Hazte VIP con Telegram Stars' },
  { command: 'paysupport', description: 'Ayuda con pagos' },
  { command: 'terms', description: 'Condiciones' },
  { command: 'help', description: 'Ayuda y comandos' },
];
