import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SampleKeyName } from "../../src/testkit/softhsm.js";
import { WorkerProcesses } from "./chaos/worker-processes.js";
import { type KmsEmulator, type KmsEmulatorOptions, startKmsEmulator } from "./kms-emulator.js";
import { randomPrefix, wipeCampaign } from "./redis.js";
import { createTestToken, type TestToken } from "./softhsm.js";

/**
 * Fixtures as `withX(callback)`: each makes one thing, hands it to the callback and always tears it down,
 * when the callback throws too (as graphile/worker's __tests__/helpers.ts). Nest them for what a test needs;
 * for one thing shared by a whole file, call them from a beforeAll/afterAll pair (see reliability-bench.ts).
 */

/** A random Redis prefix (campaign); its queues and ledger are deleted afterwards. */
export async function withRedisPrefix<T>(label: string, use: (prefix: string) => Promise<T>): Promise<T> {
  const prefix = randomPrefix(label);
  try {
    return await use(prefix);
  } finally {
    await wipeCampaign(prefix);
  }
}

/** A fresh SoftHSM2 token (with sample keys if asked); its directory is removed afterwards. */
export async function withToken<T>(
  options: { keys?: SampleKeyName[] },
  use: (token: TestToken) => Promise<T>,
): Promise<T> {
  const token = await createTestToken(options);
  try {
    return await use(token);
  } finally {
    await token.cleanup();
  }
}

/** A KMS emulator in this process; closed afterwards. */
export async function withEmulator<T>(
  options: KmsEmulatorOptions,
  use: (emulator: KmsEmulator) => Promise<T>,
): Promise<T> {
  const emulator = await startKmsEmulator(options);
  try {
    return await use(emulator);
  } finally {
    await emulator.close();
  }
}

/**
 * `hsm2kms worker` processes over one environment (started by the callback, as many and as often as it
 * likes); every one still alive afterwards is SIGKILLed and awaited.
 */
export async function withWorkerProcesses<T>(
  env: Record<string, string>,
  use: (workers: WorkerProcesses) => Promise<T>,
  args: string[] = ["worker"],
): Promise<T> {
  const workers = new WorkerProcesses(env, args);
  try {
    return await use(workers);
  } finally {
    await workers.killAll();
  }
}

/** A temporary directory; removed with its contents afterwards. */
export async function withTempDir<T>(label: string, use: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), `hsm2kms-${label}-`));
  try {
    return await use(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
