import { defineProject } from 'vitest/config';

export default defineProject({
  test: { name: 'api', hookTimeout: 60_000, testTimeout: 60_000 },
});
