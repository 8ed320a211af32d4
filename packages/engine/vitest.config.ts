import { defineProject } from 'vitest/config';

export default defineProject({
  test: { name: 'engine', hookTimeout: 60_000, testTimeout: 60_000 },
});
