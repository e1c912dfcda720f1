import { defineConfig } from "vitest/config";
import { LongestFirstSequencer } from "./test/helpers/sequencer.js";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Integration suites start processes, tokens and servers: forks isolate native pkcs11js state.
    pool: "forks",
    // Most integration time is waiting (KMS quotas, lock expiry, token lifetimes, process start-up): on 2 cores,
    // 2 workers kept ~1.5 cores busy, 3 keep ~1.8 and finish ~15% sooner.
    maxWorkers: 3,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    globalSetup: ["test/helpers/global-setup.ts"],
    // Fails a test file that leaves a child process, Redis keys under its prefix or a listening server.
    setupFiles: ["test/helpers/leak-guard.ts"],
    sequence: { sequencer: LongestFirstSequencer },
    reporters: ["default"],
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
  },
});
