import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { Redis } from "ioredis";
import type { TestProject } from "vitest/node";
import { buildTestCli } from "./cli-build.js";
import { findProcesses, killAll } from "./leaked-processes.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** The transpiled CLI entry test helpers spawn (see buildTestCli). */
    cliEntry: string;
    /** Starts the owner mark of every process this run's test files spawn (see leak-guard.ts). */
    leakRunId: string;
  }
}

/**
 * Fails the run early, with the fix, when no Redis answers (every integration suite needs a real one); builds
 * the CLI the tests spawn (removed again at the end of the run). At the end, fails the run when a process
 * any test file of this run started is still alive (a file whose fork died before its leak guard ran).
 */
export default async function globalSetup(project: TestProject): Promise<() => Promise<void>> {
  const url = process.env["REDIS_URL"] ?? "redis://127.0.0.1:6379";
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    throw new Error(
      `No Redis answers at ${url} (${(error as Error).message}). Run the tests with scripts/test.sh, which starts one, or start redis-server yourself.`,
    );
  } finally {
    redis.disconnect();
  }
  const runId = `h2k-run-${randomBytes(4).toString("hex")}`;
  project.provide("leakRunId", runId);
  const cliDir = join(project.config.root, ".tmp", `test-cli-${process.pid}`);
  project.provide("cliEntry", await buildTestCli(cliDir));
  // Watch mode: a rerun spawns what the sources say now.
  project.onTestsRerun(async () => {
    await buildTestCli(cliDir);
  });
  return async () => {
    await rm(cliDir, { recursive: true, force: true });
    const left = await findProcesses({ markPrefix: `${runId}.` });
    killAll(left);
    if (left.length > 0)
      throw new Error(
        `leak guard: test processes outlived their test files (now killed): ${left.map(({ pid, command }) => `pid ${pid} (${command})`).join(", ")}`,
      );
  };
}
