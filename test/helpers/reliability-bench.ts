import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import type { SampleKey } from "../../src/testkit/sample-keys.js";
import type { SampleKeyName } from "../../src/testkit/softhsm.js";
import type { Figures } from "./chaos/figures.js";
import { addMixedKeys } from "./fleet.js";
import { type KmsEmulator, type KmsEmulatorOptions, startKmsEmulator } from "./kms-emulator.js";
import { randomPrefix, wipeCampaign } from "./redis.js";
import { createTestToken, listTokenObjects, type TestToken } from "./softhsm.js";

/** Which keys the bench's token holds. */
export type BenchKeys =
  /** `count` keys of mixed types (addMixedKeys), labels starting with `label`; `pick`: the indices migrated. */
  | { mixed: { label: string; count: number; withRsa?: number; pick?: number[] } }
  /** The named sample keys. */
  | { sample: SampleKeyName[] }
  /** None. */
  | { none: true };

export interface BenchOptions {
  keys: BenchKeys;
  /** Printed at the end of the file. */
  figures?: Figures;
  /** A temporary directory for the file (manifests, state files), removed at the end. */
  tempDir?: string;
}

/** What every reliability suite sets up once per file; everything made through it is torn down at the end. */
export interface ReliabilityBench {
  readonly token: TestToken;
  /** The keys on the token (empty for sample keys: the suite knows their names). */
  readonly keys: SampleKey[];
  /** How many objects the token held before any migration: an invariant checks nothing was left behind. */
  readonly objectsBefore: number;
  /** The temporary directory (when asked for). */
  readonly dir: string;
  /** A random Redis prefix, wiped (queues and ledger) at the end of the file. */
  prefix(label: string): string;
  /** A KMS emulator, closed at the end of the file. */
  emulator(options: KmsEmulatorOptions): Promise<KmsEmulator>;
}

/**
 * The beforeAll/afterAll pair every reliability-*.test.ts file used to repeat: one SoftHSM2 token with its
 * keys, the object count before, and teardown of every emulator, prefix and directory made through it, when
 * a test fails too. Call at the top level of a test file.
 */
export function reliabilityBench(options: BenchOptions): ReliabilityBench {
  let token: TestToken | undefined;
  let keys: SampleKey[] = [];
  let objectsBefore = 0;
  let dir: string | undefined;
  const emulators: KmsEmulator[] = [];
  const prefixes: string[] = [];
  const ready = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`the reliability bench's ${what} is made in beforeAll`);
    return value;
  };

  beforeAll(async () => {
    if (options.tempDir) dir = await mkdtemp(join(tmpdir(), `hsm2kms-${options.tempDir}-`));
    const spec = options.keys;
    token = await createTestToken("sample" in spec ? { keys: spec.sample } : {});
    if ("mixed" in spec) {
      const made = await addMixedKeys(token.env, spec.mixed.label, spec.mixed.count, spec.mixed.withRsa);
      keys = spec.mixed.pick ? spec.mixed.pick.map((index) => made[index]!) : made;
    }
    objectsBefore = (await listTokenObjects(token.env)).length;
  });

  afterAll(async () => {
    options.figures?.print();
    await Promise.all(emulators.map((emulator) => emulator.close()));
    for (const prefix of prefixes) await wipeCampaign(prefix);
    await token?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  return {
    get token() {
      return ready(token, "token");
    },
    get keys() {
      return keys;
    },
    get objectsBefore() {
      return objectsBefore;
    },
    get dir() {
      return ready(dir, "temporary directory (tempDir)");
    },
    prefix(label) {
      const prefix = randomPrefix(label);
      prefixes.push(prefix);
      return prefix;
    },
    async emulator(emulatorOptions) {
      const emulator = await startKmsEmulator(emulatorOptions);
      emulators.push(emulator);
      return emulator;
    },
  };
}
