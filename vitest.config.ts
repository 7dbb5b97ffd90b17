import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globalSetup: ['tests/support/global-setup.ts'],
    setupFiles: ['tests/support/file-database.ts'],
    include: ['tests/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: more workers than that only adds contention on the shared Postgres.
    maxWorkers: 2,
    reporters: ['default'],
    // Every webhook update checks that the outbox events it wrote were noted on its own database handle
    // (lib/bus/written.ts): a module writing through another handle fails its tests instead of losing
    // its events' after-commit publication.
    env: { DIANABOT_WRITTEN_CHECK: '1' },
    // The QStash stand-in answers 500 on purpose in the outage tests; the client logs each retry.
    // Those are the tests' injected faults, not failures: kept out of the output (assertions check them).
    onConsoleLog: (log) => (/^\[Upstash QStash\] \w+ \S+ failed with status \d+/.test(log.trim()) ? false : undefined),
  },
});
