import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { toMigrationError } from "../../src/shared/errors.js";
import type { HsmPort } from "../../src/shared/hsm/types.js";
import type { MigrationRecord } from "../../src/shared/migration.js";
import { newMigrationRecord } from "../../src/shared/migration.js";
import { KmsError } from "../../src/testkit/kms-emulator/errors.js";
import { decideAfterError } from "../../src/workers/outcomes.js";
import { PHASE_FUNCTIONS, type PhaseContext, PROVENANCE_TAGS } from "../../src/workers/phases/index.js";
import { applyDecision, applyOutcome } from "../../src/workers/transitions.js";
import { metricValue, runInProcessFleet } from "../helpers/chaos/in-process-fleet.js";
import { readLedger } from "../helpers/chaos/invariants.js";
import { addMixedKeys, kmsKeysByMigration } from "../helpers/fleet.js";
import { type KmsEmulator, type KmsEmulatorOptions, startKmsEmulator } from "../helpers/kms-emulator.js";
import { emulatorKms, realContext } from "../helpers/pipeline.js";
import { randomPrefix, wipeCampaign } from "../helpers/redis.js";
import { createTestToken, type TestToken } from "../helpers/softhsm.js";

/**
 * The create phase against the emulator through the real SDK: how it finds a key an earlier attempt (or an
 * earlier campaign) made, with the Resource Groups Tagging API instead of scanning the account.
 */

const LIMITS = {
  maxAttempts: 5,
  maxTokenRefreshes: 3,
  tokenSafetyMarginMs: 0,
  baseBackoffMs: 10,
  maxBackoffMs: 50,
};
const emulators: KmsEmulator[] = [];
const contexts: Array<{ close(): void }> = [];

afterEach(async () => {
  for (const context of contexts.splice(0)) context.close();
  for (const emulator of emulators.splice(0)) await emulator.close();
});

async function emulatorWith(options: KmsEmulatorOptions): Promise<KmsEmulator> {
  const emulator = await startKmsEmulator({ quotas: false, wrappingKeyPoolSize: 0, ...options });
  emulators.push(emulator);
  return emulator;
}

function contextFor(emulator: KmsEmulator): Omit<PhaseContext, "checkpoint"> {
  // No HSM: the create phase only talks to KMS, and an HSM call would fail the test loudly.
  const noHsm = new Proxy({} as HsmPort, {
    get: (_target, name) => {
      throw new Error(`the create phase touched the HSM (${String(name)})`);
    },
  });
  const real = realContext(noHsm, emulator.url, { tagIndexWaitMs: 4000 });
  contexts.push(real);
  return real.context;
}

/** A record ready for create (what preflight would have recorded for an EC P-256 signing key). */
function preflighted(label: string, alias?: string): MigrationRecord {
  const record = newMigrationRecord(
    `m-${label}-${randomBytes(4).toString("hex")}`,
    "us-east-1",
    { label },
    { tags: { team: "test" }, multiRegion: false, alias },
    new Date(),
  );
  return {
    ...record,
    phase: "create",
    status: "in_progress",
    sourceKey: {
      label,
      idHex: "01",
      keyType: "EC",
      objectClass: "private",
      keySpec: "ECC_NIST_P256",
      keyUsage: "SIGN_VERIFY",
      fingerprint: "sha256:test",
    },
  };
}

/** Runs create until it hands over or fails, deciding after each error as the workers do. */
async function runCreate(base: Omit<PhaseContext, "checkpoint">, initial: MigrationRecord) {
  let record = initial;
  const ctx: PhaseContext = {
    ...base,
    checkpoint: async (patch) => {
      record = { ...record, ...patch };
    },
  };
  const actions: string[] = [];
  for (let step = 0; step < 60; step++) {
    try {
      const outcome = await PHASE_FUNCTIONS.create(ctx, record);
      return { record: applyOutcome(record, outcome, new Date()).record, actions };
    } catch (thrown) {
      const error = toMigrationError(thrown);
      const decision = decideAfterError(record, "create", error, LIMITS, new Date());
      actions.push(`${decision.action}:${error.code}`);
      const { record: next, schedule } = applyDecision(record, decision);
      record = next;
      if (schedule.kind === "finished") return { record, actions };
      if (schedule.kind === "again-later" || schedule.kind === "pause-queue") await sleep(schedule.delayMs);
    }
  }
  throw new Error(`create did not finish: ${actions.join(", ")}`);
}

const calls = (emulator: KmsEmulator, operation: string) =>
  emulator.stats().regions["us-east-1"]?.[operation]?.calls ?? 0;

describe("create finds earlier keys by their provenance tag", () => {
  it("a CreateKey whose answer was lost: the next attempt adopts the key it made, by tag, without ListKeys", async () => {
    const emulator = await emulatorWith({
      seedKeys: 2000,
      lostResponseRate: { CreateKey: 1 },
      tagIndexDelayMs: 400,
    });
    const { record, actions } = await runCreate(contextFor(emulator), preflighted("lost"));
    expect(record.kmsKeyId, actions.join(", ")).toBeDefined();
    expect(record.phase).toBe("params");
    expect(actions[0]).toBe("retry:KMS_UNAVAILABLE");
    expect(calls(emulator, "CreateKey")).toBe(1);
    expect(calls(emulator, "ListKeys")).toBe(0);
    expect(calls(emulator, "ListResourceTags")).toBe(0);
    expect(calls(emulator, "GetResources")).toBeGreaterThanOrEqual(2);
    expect(calls(emulator, "DescribeKey")).toBeLessThanOrEqual(2);
    // Not a scan of the 2,000 seeded keys: the tag index, which has caught up by now.
    const kms = emulatorKms(emulator.url);
    const tagged = await kms.findKeysByTag(PROVENANCE_TAGS.migrationId, record.id).finally(() => kms.close());
    expect(tagged.map((key) => key.keyId)).toEqual([record.kmsKeyId]);
  });

  it("a throttled CreateKey made no key: the repeat creates without another lookup", async () => {
    let throttles = 1;
    const emulator = await emulatorWith({
      beforeOperation: ({ operation }) => {
        if (operation === "CreateKey" && throttles-- > 0)
          throw new KmsError("ThrottlingException", "Rate exceeded");
      },
    });
    const { record, actions } = await runCreate(contextFor(emulator), preflighted("throttled"));
    expect(actions).toEqual(["throttle:KMS_THROTTLED"]);
    expect(record.kmsKeyId).toBeDefined();
    expect(record.deferrals ?? 0).toBe(0);
    expect(calls(emulator, "CreateKey")).toBe(2);
    expect(calls(emulator, "GetResources")).toBe(1);
  });

  it("a full Region (LimitExceededException) fails the key naming the quota, and the next key is failed without a CreateKey", async () => {
    const emulator = await emulatorWith({ seedKeys: 3, maxKeysPerRegion: 3 });
    const context = contextFor(emulator);
    const first = await runCreate(context, preflighted("full-1"));
    const second = await runCreate(context, preflighted("full-2"));
    for (const { record } of [first, second]) {
      expect(record.status).toBe("failed");
      expect(record.error?.code).toBe("KMS_RESOURCE_QUOTA_EXCEEDED");
      expect(record.error?.message).toContain('"AWS KMS keys"');
      expect(record.error?.message).toContain("Service Quotas");
      expect(record.createStartedAt).toBeUndefined();
    }
    expect(first.actions).toEqual(["fail:KMS_RESOURCE_QUOTA_EXCEEDED"]);
    expect(calls(emulator, "CreateKey")).toBe(1);
  });

  it("the calls per key do not grow with the account: 10,000 seeded keys cost the same as none", async () => {
    const perOperation = async (seedKeys: number) => {
      const emulator = await emulatorWith({ seedKeys });
      const context = contextFor(emulator);
      for (let n = 0; n < 3; n++) {
        const { record } = await runCreate(context, preflighted(`size-${n}`, `alias/size/${seedKeys}-${n}`));
        expect(record.kmsKeyId).toBeDefined();
      }
      return emulator.stats().regions["us-east-1"];
    };
    const empty = await perOperation(0);
    const full = await perOperation(10_000);
    expect(full).toEqual(empty);
    expect(Object.keys(full ?? {}).sort()).toEqual(
      ["CreateAlias", "CreateKey", "DescribeKey", "GetResources"].sort(),
    );
    expect(full?.["CreateKey"]?.calls).toBe(3);
  });
});

describe("two campaigns over the same keys (real SoftHSM, Redis, BullMQ fleet, emulator)", () => {
  let token: TestToken | undefined;
  const prefixes: string[] = [];

  afterAll(async () => {
    for (const prefix of prefixes) {
      await wipeCampaign(prefix);
    }
    await token?.cleanup();
  });

  it("the second campaign adopts the first one's KMS keys: one KMS key per source key", async () => {
    token = await createTestToken();
    const keys = await addMixedKeys(token.env, "twice", 2);
    const emulator = await emulatorWith({ acceptKwpZeroPadding: true, wrappingKeyPoolSize: 1 });
    const runs = [];
    for (const name of ["first", "second"]) {
      const prefix = randomPrefix(`twice-${name}`);
      prefixes.push(prefix);
      runs.push(
        await runInProcessFleet({ token, emulatorUrl: emulator.url, prefix, keys, timeoutMs: 90_000 }),
      );
    }
    expect(runs.map((run) => run.timedOut)).toEqual([false, false]);
    expect(calls(emulator, "ListKeys")).toBe(0);
    expect(calls(emulator, "CreateKey")).toBe(2);
    const [first, second] = await Promise.all(
      prefixes.map(async (prefix) => (await readLedger(prefix)).records),
    );
    const keyOf = (records: MigrationRecord[] | undefined) =>
      Object.fromEntries((records ?? []).map((record) => [record.id, [record.status, record.kmsKeyId]]));
    expect(keyOf(second)).toEqual(keyOf(first));
    expect(Object.values(keyOf(first)).map(([status]) => status)).toEqual(["migrated", "migrated"]);
    const { live } = await kmsKeysByMigration(emulator.url);
    const ours = [...live.entries()].filter(([id]) => id !== "(none)");
    expect(ours).toHaveLength(2);
    for (const [, keyIds] of ours) expect(keyIds).toHaveLength(1);
  });

  it("a full Region: the fleet fails every key there with the quota's name, sends one CreateKey, and raises the metric", async () => {
    token ??= await createTestToken();
    const keys = await addMixedKeys(token.env, "full", 3);
    const emulator = await emulatorWith({ seedKeys: 5, maxKeysPerRegion: 5, wrappingKeyPoolSize: 1 });
    const prefix = randomPrefix("full");
    prefixes.push(prefix);
    const run = await runInProcessFleet({
      token,
      emulatorUrl: emulator.url,
      prefix,
      keys,
      env: { HSM2KMS_KMS_CONCURRENCY: "1" },
      timeoutMs: 60_000,
    });
    expect(run.timedOut).toBe(false);
    const { records } = await readLedger(prefix);
    expect(records.map((record) => [record.status, record.error?.code])).toEqual(
      keys.map(() => ["failed", "KMS_RESOURCE_QUOTA_EXCEEDED"]),
    );
    for (const record of records) expect(record.error?.message).toContain('"AWS KMS keys"');
    expect(calls(emulator, "CreateKey")).toBe(1);
    expect(
      metricValue(run.metricsText, "hsm2kms_kms_resource_quota_exceeded", {
        region: "us-east-1",
        quota: "AWS KMS keys",
      }),
    ).toBe(1);
  });
});
