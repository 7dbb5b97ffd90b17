import type { ContentIndex } from './store.js';

export interface Relocation {
  /** Where the user is (or should be) in this version. */
  fragment: string;
  /** true: the saved fragment no longer exists; tell the user briefly and save the new position. */
  relocated: boolean;
}

/**
 * Saves survive content edits (pure): a user whose current fragment is gone from the version is moved
 * to the nearest safe fragment — the first open fragment (no unlock condition, not secret) of the
 * level they were in, else the start of the story.
 */
export function relocate(content: ContentIndex, saved: { fragment: string; level: number }): Relocation {
  if (content.fragment(saved.fragment)) return { fragment: saved.fragment, relocated: false };
  const safe = content.fragmentsOf(saved.level).find((f) => !f.unlock && !f.secret);
  return { fragment: safe?.key ?? content.start, relocated: true };
}
