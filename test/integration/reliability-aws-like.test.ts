import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { beforeAll, describe, expect, it } from "vitest";
import { formatManifestCsv } from "../../src/manifest/read.js";
import type { KmsEmulator } from "../../src/testkit/kms-emulator/index.js";
import { SAMPLE_KEY_NAMES, SAMPLE_KEYS } from "../../src/testkit/sample-keys.js";
import { checkInvariants, listCampaignKmsKeys } from "../helpers/chaos/invariants.js";
import { runCli } from "../helpers/cli.js";
import { cliEnvironment } from "../helpers/fleet.js";
import { reliabilityBench } from "../helpers/reliability-bench.js";

/**
 * Issue #14's "done when": `hsm2kms migrate` of the sandbox keys against a KMS as unforgiving as AWS documents
 * it, all at once: every new key, alias, import and replica unseen for up to 2 s (eventual consistency), an
 * account already holding unrelated keys, request quotas that throttle (the emulator's are below what the
 * workers are told), every 20th request answered with a 500, and every fifth CreateKey and a tenth of
 * ImportKeyMaterial answers lost after KMS acted. Every key must end migrated once: 0 failed, 0 duplicate,
 * 0 orphan KMS keys, the seeded keys untouched.
 */
const NAMES = SAMPLE_KEY_NAMES.filter((name) => SAMPLE_KEYS[name].extractable);
const SEEDED = 300;
const REGION = "us-east-1";

const bench = reliabilityBench({ keys: { sample: NAMES }, tempDir: "aws-like" });
const prefix = bench.prefix("aws-like");
let emulator: KmsEmulator;

beforeAll(async () => {
  emulator = await bench.emulator({
    acceptKwpZeroPadding: true,
    consistencyDelayMs: 2000,
    seedKeys: SEEDED,
    // AWS's default request quotas, but GetParametersForImport at 3/s so that the run stays short.
    quotas: { GetParametersForImport: 3 },
    // One KMS request in 20 answered with a 500 (every 20th, so the faults surely happen).
    faultEvery: 20,
    // Every fifth CreateKey answer is lost after KMS made the key (deterministic, so the loss surely happens),
    // and a tenth of ImportKeyMaterial answers at random.
    lostResponseEvery: { CreateKey: 5 },
    lostResponseRate: { ImportKeyMaterial: 0.1 },
  });
});

describe("a KMS as strict as AWS documents it", () => {
  it("migrate of every sandbox key type ends with each key migrated once: 0 failed, 0 duplicate, 0 orphan", async () => {
    const manifest = join(bench.dir, "keys.csv");
    // Half the keys with an alias, half without: keys without one are found again only by their tag.
    writeFileSync(
      manifest,
      formatManifestCsv(
        NAMES.map((name, n) => ({
          source_label: SAMPLE_KEYS[name].label,
          ...(n % 2 === 0 ? { alias: `alias/aws-like/${name}` } : {}),
        })),
      ),
    );
    const run = await runCli(
      ["migrate", manifest],
      cliEnvironment(bench.token.env, emulator.url, prefix, {
        // The workers pace above what the emulator grants, so KMS itself throttles them.
        HSM2KMS_KMS_QUOTAS: "GetParametersForImport=6,CreateKey=20,ImportKeyMaterial=20",
        HSM2KMS_MAX_ATTEMPTS: "10",
      }),
    );
    expect(run.code, run.output).toBe(0);

    const stats = emulator.stats();
    // The conditions really held: throttles, injected 500s and lost answers all happened.
    expect(stats.total.throttled).toBeGreaterThan(0);
    expect(stats.total.faults).toBeGreaterThan(0);
    expect(stats.regions[REGION]?.["CreateKey"]?.lostResponses ?? 0).toBeGreaterThan(0);
    expect(stats.regions[REGION]?.["ListKeys"]?.calls ?? 0).toBe(0);

    await sleep(600); // the tag index catches up within 0.5 s
    const kmsKeys = await listCampaignKmsKeys(emulator.url, prefix, REGION);
    const report = await checkInvariants({
      prefix,
      emulatorUrl: emulator.url,
      tokenEnv: bench.token.env,
      hsmObjectsBefore: bench.objectsBefore,
      expectedKeys: NAMES.length,
      kmsKeys,
    });
    expect(report.problems).toEqual([]);
    expect(report.migrated).toBe(NAMES.length);
    expect(report.failed).toBe(0);
    expect(report.duplicates).toBe(0);
    expect(report.orphans).toBe(0);
    // Every key in the account is a seeded one or a key of this campaign (none untagged, none made twice).
    expect(emulator.allKeyIds(REGION).length).toBe(SEEDED + kmsKeys.length);
    expect(kmsKeys.filter((key) => key.keyState === "Enabled")).toHaveLength(NAMES.length);
  }, 240_000);
});
