/** The gamification sections of the content model live with it (lib/content/gamification.ts). */
export * from '../content/gamification.js';
