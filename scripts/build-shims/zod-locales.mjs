// zod's `locales` namespace (z.locales, ~40 languages, ~290 KB bundled) is exported as a namespace
// object, so a bundler cannot drop the languages nobody uses. DianaBot never reads z.locales (zod's
// default messages are English, set by zod itself from locales/en): scripts/build.ts points zod's
// own import of its locales index here, keeping English only.
export { default as en } from 'zod/v4/locales/en.js';
