import { defineProject } from 'vitest/config';

export default defineProject({
  test: { name: 'cli', hookTimeout: 120_000, testTimeout: 180_000 },
});
