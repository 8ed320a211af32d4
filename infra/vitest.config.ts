import { defineProject } from 'vitest/config';

// Rendering an environment with Pulumi mocks takes ~0.5 s; the suite renders a dozen.
export default defineProject({
  test: { name: 'infra', hookTimeout: 30_000, testTimeout: 30_000 },
});
