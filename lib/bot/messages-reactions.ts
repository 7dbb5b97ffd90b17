/** Texts of the reaction rewards (lib/bot/features/reacciones.ts): callback notices, plain text (≤ 200 characters). */
const n = (v: number) => `${v.toLocaleString('es-MX')} ${v === 1 ? 'besito' : 'besitos'}`;

export const reactionMessages = {
  reactionRewarded: (amount: number, balance: number) => `❤️ ¡Gracias por reaccionar! +${n(amount)}. Ahora tienes ${n(balance)}.`,
  /** `why`: the economy policy's sentence (capReachedText: "Ya alcanzaste el máximo de hoy en reacciones …"). */
  reactionCapped: (why: string) => `❤️ Reacción guardada, sin besitos. ${why}`,
  reactionAgain: () => '❤️ Reacción puesta de nuevo. Los besitos se dan solo la primera vez que reaccionas a cada publicación.',
  reactionRemoved: () => 'Quitaste tu reacción. Puedes volver a ponerla cuando quieras.',
  reactionNotHere: () => 'Este botón no corresponde a esta publicación.',
};
