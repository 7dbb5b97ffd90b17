import type { Composer } from 'telegraf';
import type { BotContext } from '../context.js';
import { balanceFeature } from './balance.js';
import { dailyFeature } from './daily.js';
import { eventosFeature } from './eventos.js';
import { helpFeature } from './help.js';
import { historyFeature } from './history.js';
import { startFeature } from './start.js';

/** Every feature, in the order they get a chance at an update. Add new ones here. */
export const features: Composer<BotContext>[] = [startFeature, helpFeature, balanceFeature, historyFeature, dailyFeature, eventosFeature];

/** The command menu registered with setMyCommands (scripts/set-commands.ts). */
export const commandMenu = [
  { command: 'start', description: 'Bienvenida' },
  { command: 'daily', description: 'Reclama tu regalo diario' },
  { command: 'balance', description: 'Tus besitos' },
  { command: 'history', description: 'Tus últimos movimientos' },
  { command: 'help', description: 'Ayuda y comandos' },
];
