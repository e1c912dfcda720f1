import { defineConfig } from "vitest/config";

/**
 * The soak (`npm run chaos`): the reliability scenarios with many more trials than the normal suite.
 * `CHAOS_TRIALS=<n>` sets the trials per scenario, `CHAOS_SEED=<seed>` replays a run (each suite prints its seed).
 */
export default defineConfig({
  test: {
    include: ["test/chaos/**/*.chaos.ts"],
    pool: "forks",
    maxWorkers: 1,
    testTimeout: 3_600_000,
    hookTimeout: 300_000,
    globalSetup: ["test/helpers/global-setup.ts"],
    reporters: ["default"],
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
  },
});
