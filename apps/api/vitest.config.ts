import { defineProject } from 'vitest/config';

export default defineProject({
  test: { name: 'app-api', hookTimeout: 120_000, testTimeout: 120_000 },
});
