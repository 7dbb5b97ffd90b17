import type { Fragment, Story, Trivia } from './schema.js';

/** Story content, wherever it lives (files in the repo or MongoDB). Read-only for the bot. */
export interface ContentStore {
  readonly kind: 'file' | 'mongodb';
  startFragmentId(): Promise<string>;
  getFragment(id: string): Promise<Fragment | null>;
  listFragments(opts?: { level?: number }): Promise<Fragment[]>;
  getTrivia(id: string): Promise<Trivia | null>;
  listTrivia(opts?: { fragmentId?: string }): Promise<Trivia[]>;
  close?(): Promise<void>;
}

/** A ContentStore over a story already parsed and validated. */
export function inMemoryContentStore(story: Story, kind: ContentStore['kind'] = 'file'): ContentStore {
  const fragments = new Map(story.fragments.map((f) => [f.id, f]));
  const trivia = new Map(story.trivia.map((t) => [t.id, t]));
  return {
    kind,
    async startFragmentId() {
      return story.start;
    },
    async getFragment(id) {
      return fragments.get(id) ?? null;
    },
    async listFragments(opts = {}) {
      return story.fragments.filter((f) => opts.level === undefined || f.level === opts.level);
    },
    async getTrivia(id) {
      return trivia.get(id) ?? null;
    },
    async listTrivia(opts = {}) {
      return story.trivia.filter((t) => opts.fragmentId === undefined || t.fragmentId === opts.fragmentId);
    },
  };
}
