import { defineProject } from 'vitest/config';

export default defineProject({
  test: { name: 'app-worker', hookTimeout: 60_000, testTimeout: 120_000 },
});
