import { defineConfig } from "vitest/config";
import { LongestFirstSequencer } from "./test/helpers/sequencer.js";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Integration suites start processes, tokens and servers: forks isolate native pkcs11js state.
    pool: "forks",
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    globalSetup: ["test/helpers/global-setup.ts"],
    sequence: { sequencer: LongestFirstSequencer },
    reporters: ["default"],
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
  },
});
