import { z } from 'zod';

const id = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,47}$/, 'ids are lowercase letters, digits, _ and -, at most 48 chars');
const flag = z.string().regex(/^[a-z0-9_:.-]{1,48}$/, 'flags are short lowercase names');

export const decisionSchema = z.object({
  id,
  label: z.string().min(1).max(64),
  /** The next fragment, or null when the decision ends the chapter. */
  next: id.nullable(),
  setFlags: z.array(flag).default([]),
  reward: z.object({ besitos: z.number().int().min(1).max(1000) }).optional(),
});

export const fragmentSchema = z.object({
  id,
  title: z.string().min(1).max(120),
  level: z.number().int().min(1).max(100),
  /** Telegram HTML: <b>, <i>, <u>, <s>, <a>, <code>, <pre>, <blockquote>, <tg-spoiler> only. */
  text: z.string().min(1).max(4000),
  secret: z.boolean().default(false),
  requires: z
    .object({
      vip: z.boolean().optional(),
      besitos: z.number().int().min(1).max(100_000).optional(),
      flags: z.array(flag).optional(),
    })
    .default({}),
  decisions: z.array(decisionSchema).max(8).default([]),
});

export const triviaSchema = z.object({
  id,
  fragmentId: id.optional(),
  question: z.string().min(1).max(300),
  options: z.array(z.string().min(1).max(100)).min(2).max(6),
  answer: z.number().int().min(0),
  difficulty: z.enum(['facil', 'media', 'dificil']).default('media'),
  reward: z.object({ besitos: z.number().int().min(1).max(100) }),
  timeLimitSeconds: z.number().int().min(5).max(600).default(60),
});

export const storySchema = z.object({
  start: id,
  fragments: z.array(fragmentSchema).min(1),
  trivia: z.array(triviaSchema).default([]),
});

export type Decision = z.output<typeof decisionSchema>;
export type Fragment = z.output<typeof fragmentSchema>;
export type Trivia = z.output<typeof triviaSchema>;
export type Story = z.output<typeof storySchema>;

const ALLOWED_TAGS = new Set(['b', 'strong', 'i', 'em', 'u', 'ins', 's', 'strike', 'del', 'a', 'code', 'pre', 'blockquote', 'tg-spoiler', 'span']);

/** Checks what a schema cannot: references between items, unique ids, Telegram-safe HTML. */
export function crossCheck(story: Story): string[] {
  const problems: string[] = [];
  const ids = new Set<string>();
  for (const f of story.fragments) {
    if (ids.has(f.id)) problems.push(`fragment "${f.id}" is defined twice`);
    ids.add(f.id);
  }
  if (!ids.has(story.start)) problems.push(`start fragment "${story.start}" does not exist`);
  for (const f of story.fragments) {
    const decisionIds = new Set<string>();
    for (const d of f.decisions) {
      if (decisionIds.has(d.id)) problems.push(`fragment "${f.id}": decision "${d.id}" is defined twice`);
      decisionIds.add(d.id);
      if (d.next !== null && !ids.has(d.next)) problems.push(`fragment "${f.id}", decision "${d.id}": next fragment "${d.next}" does not exist`);
    }
    for (const [, tag] of f.text.matchAll(/<\/?([a-z-]+)[^>]*>/gi)) {
      if (!ALLOWED_TAGS.has(tag!.toLowerCase())) problems.push(`fragment "${f.id}": tag <${tag}> is not allowed by Telegram HTML`);
    }
  }
  const triviaIds = new Set<string>();
  for (const t of story.trivia) {
    if (triviaIds.has(t.id)) problems.push(`trivia "${t.id}" is defined twice`);
    triviaIds.add(t.id);
    if (t.answer >= t.options.length) problems.push(`trivia "${t.id}": answer ${t.answer} is not one of its ${t.options.length} options`);
    if (t.fragmentId && !ids.has(t.fragmentId)) problems.push(`trivia "${t.id}": fragment "${t.fragmentId}" does not exist`);
  }
  return problems;
}

export class InvalidContent extends Error {
  constructor(readonly source: string, readonly problems: string[]) {
    super(`invalid story content in ${source}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'InvalidContent';
  }
}

/** Parses and cross-checks a story; throws InvalidContent listing every problem with its path. */
export function parseStory(raw: unknown, source: string): Story {
  const parsed = storySchema.safeParse(raw);
  if (!parsed.success) {
    throw new InvalidContent(source, parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  const problems = crossCheck(parsed.data);
  if (problems.length) throw new InvalidContent(source, problems);
  return parsed.data;
}
