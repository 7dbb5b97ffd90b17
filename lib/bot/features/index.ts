import type { Composer } from 'telegraf';
import type { BotContext } from '../context.js';
import { actividadFeature } from './actividad.js';
import { balanceFeature } from './balance.js';
import { bonoFeature } from './bono.js';
import { commandCaseFeature } from './conversation.js';
import { dailyFeature } from './daily.js';
import { economiaFeature } from './economia.js';
import { estadoFeature } from './estado.js';
import { gamificacionFeature } from './gamificacion.js';
import { eventosFeature } from './eventos.js';
import { helpFeature } from './help.js';
import { historiaFeature } from './historia.js';
import { historyFeature } from './history.js';
import { nivelesFeature } from './niveles.js';
import { perfilFeature } from './perfil.js';
import { privacidadFeature } from './privacidad.js';
import { privateOnlyFeature } from './private-only.js';
import { regalarFeature } from './regalar.js';
import { startFeature } from './start.js';
import { subastasFeature } from './subastas.js';
import { triviaFeature } from './trivia.js';
import { channelsFeature } from './channels.js';
import { publicarFeature } from './publicar.js';
import { invitarFeature } from './invitar.js';
import { rankingFeature } from './ranking.js';
import { vipAdminFeature } from './vip-admin.js';
import { vipFeature } from './vip.js';
import { reaccionesFeature } from './reacciones.js';

/** Every feature, in the order they get a chance at an update. Add new ones here. */
export const features: Composer<BotContext>[] = [commandCaseFeature, privateOnlyFeature, startFeature, helpFeature, balanceFeature, historyFeature, dailyFeature, eventosFeature, estadoFeature, perfilFeature, regalarFeature, gamificacionFeature, subastasFeature, rankingFeature, invitarFeature, actividadFeature, privacidadFeature, vipFeature, vipAdminFeature, channelsFeature, publicarFeature, historiaFeature, nivelesFeature, triviaFeature, economiaFeature, bonoFeature, reaccionesFeature];

/**
 * The command menu registered with setMyCommands (scripts/set-commands.ts): Spanish names; the English
 * ones (/daily, /balance, /history, /help) keep working as aliases and are named in /ayuda.
 */
export const commandMenu = [
  { command: 'start', description: 'Bienvenida' },
  { command: 'historia', description: 'Vive la historia' },
  { command: 'niveles', description: 'Tu mapa de niveles' },
  { command: 'trivia', description: 'Responde una trivia' },
  { command: 'regalo', description: 'Reclama tu regalo diario' },
  { command: 'saldo', description: 'Tus besitos' },
  { command: 'historial', description: 'Tus últimos movimientos' },
  { command: 'perfil', description: 'Tu perfil' },
  { command: 'regalar', description: 'Regala besitos a alguien' },
  { command: 'misiones', description: 'Tus misiones y su progreso' },
  { command: 'logros', description: 'Tus logros' },
  { command: 'tienda', description: 'La tienda de Diana' },
  { command: 'mochila', description: 'Tus objetos' },
  { command: 'ranking', description: 'Quién ha ganado más besitos' },
  { command: 'invitar', description: 'Invita a tus amistades y ganad besitos' },
  { command: 'subastas', description: 'Subastas abiertas: puja por objetos exclusivos' },
  { command: 'pujar', description: 'Puja en una subasta: /pujar 150' },
  { command: 'actividad', description: 'Tus últimas acciones' },
  { command: 'privacidad', description: 'Tus datos: qué guardamos, exportar, borrar' },
  { command: 'vip', description: 'Hazte VIP con Telegram Stars' },
  { command: 'paysupport', description: 'Ayuda con pagos' },
  { command: 'terms', description: 'Condiciones' },
  { command: 'ayuda', description: 'Ayuda y comandos' },
];
