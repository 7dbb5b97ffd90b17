// npm run set-commands — publishes the command menu (the "/" button) with setMyCommands.
import { commandMenu } from '../lib/bot/features/index.js';
import { scriptTelegram } from './telegram-api.js';

const telegram = scriptTelegram();
await telegram.setMyCommands(commandMenu);
await telegram.setMyCommands(commandMenu, { language_code: 'es' });
console.log(`Menú de comandos publicado: ${commandMenu.map((c) => '/' + c.command).join(' ')}`);
