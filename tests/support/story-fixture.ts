import { contentSchema, type Content } from '../../lib/content/schema.js';
import { ContentIndex } from '../../lib/content/store.js';

/**
 * A small story exercising every engine rule: a story fragment, decisions (once-only, repeatable,
 * conditional, flag-clearing), a secret, a premium fragment, a riddle, a dice throw, a level with
 * an unlock condition, a VIP level, endings and trivia.
 */
export function fixtureContent(edit?: (raw: any) => void): Content {
  const raw: any = {
    start: 'a',
    levels: [
      { number: 1, title: 'Uno', intro: 'Empieza.' },
      { number: 2, title: 'Dos', intro: 'Sigue.', unlock: { kind: 'flag_set', flag: 'jardin' } },
      { number: 3, title: 'Tres', intro: 'Solo VIP.', vip: true },
    ],
    fragments: [
      { key: 'a', level: 1, title: 'Inicio', narrator: 'Diana', text: 'Hola.', next: 'b', rewards: { besitos: 5, items: ['carta'] }, media: { type: 'photo', url: 'https://example.com/diana.jpg', caption: 'Diana' } },
      {
        key: 'b', level: 1, title: 'Cruce', narrator: 'Lucien', text: '¿A dónde?', type: 'decision',
        decisions: [
          { key: 'jardin', label: 'Al jardín', next: 'c', once: true, flags: { set: ['jardin'] }, rewards: { besitos: 3 } },
          { key: 'volver', label: 'Volver', next: 'a', flags: { clear: ['jardin'] } },
          { key: 'llave', label: 'Usar la llave', next: 's', show: { kind: 'all', of: [{ kind: 'flag_set', flag: 'llave' }, { kind: 'not', condition: { kind: 'flag_set', flag: 'rota' } }] } },
          { key: 'premium', label: 'El camerino', next: 'p' },
          { key: 'abierta', label: 'Puerta abierta', next: 'a', show: { kind: 'any', of: [{ kind: 'flag_set', flag: 'x' }, { kind: 'flag_set', flag: 'y' }] } },
        ],
      },
      {
        key: 'c', level: 1, title: 'Acertijo', narrator: 'Diana', text: '¿Qué brilla de noche?', type: 'mini_game',
        game: { kind: 'riddle', question: '¿Qué brilla de noche?', answers: ['la luna'], hint: 'Mira arriba.', attempts: 2,
          success: { next: 'd', rewards: { besitos: 7 } }, failure: { next: 'd', rewards: { besitos: 1 } } },
      },
      {
        key: 'd', level: 1, title: 'Dados', narrator: 'Narrador', text: 'Lanza.', type: 'mini_game',
        game: { kind: 'dice', emoji: '🎲', branches: [{ min: 1, max: 3, next: 'e', rewards: { besitos: 2 } }, { min: 4, max: 6, next: 'f', rewards: { besitos: 4 } }] },
      },
      { key: 'e', level: 2, title: 'Camino', narrator: 'Diana', text: 'Sigue.', next: 'g' },
      { key: 'f', level: 2, title: 'Final feliz', narrator: 'Diana', text: 'Fin.', ending: true, rewards: { besitos: 10 } },
      { key: 's', level: 1, title: 'Secreto', narrator: 'Lucien', text: 'Nadie lo sabe.', secret: true, next: 'b' },
      { key: 'p', level: 1, title: 'Camerino', narrator: 'Diana', text: 'Privado.', unlock: { kind: 'besitos_paid', price: 30 }, next: 'b' },
      { key: 'g', level: 3, title: 'VIP', narrator: 'Diana', text: 'Exclusivo.', ending: true },
    ],
    trivia: [
      { key: 't1', question: '¿Color?', options: ['Rojo', 'Azul'], answer: 'Azul', rewards: { correct: { besitos: 10 }, incorrect: { besitos: 1 } }, timeLimitSeconds: 30, availableAfter: 'a' },
      { key: 't2', question: '¿Nombre?', options: ['Diana', 'Ana'], answer: 'Diana', rewards: { correct: { besitos: 5 }, incorrect: { besitos: 0 } } },
    ],
  };
  edit?.(raw);
  return contentSchema.parse(raw);
}

export function fixtureIndex(edit?: (raw: any) => void): ContentIndex {
  return new ContentIndex(fixtureContent(edit));
}
