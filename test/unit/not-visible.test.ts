import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/shared/config.js";
import { notVisible } from "../../src/shared/errors.js";
import { mapKmsError } from "../../src/shared/kms/kms-errors.js";
import { createMetrics } from "../../src/shared/metrics.js";
import { type MigrationRecord, newMigrationRecord } from "../../src/shared/migration.js";
import { WorkerEvents } from "../../src/workers/events.js";
import { runMigrationInProcess } from "../../src/workers/in-process-runner.js";
import { observeWorkers } from "../../src/workers/observe.js";
import { type AfterError, decideAfterError, VISIBILITY_WAIT_BUDGET } from "../../src/workers/outcomes.js";
import { PHASE_FUNCTIONS } from "../../src/workers/phases/index.js";
import { harness, phaseRejection, recordFor } from "../helpers/phase-harness.js";

const NOW = new Date("2026-11-28T12:00:00Z");
const LIMITS = {
  maxAttempts: 3,
  maxTokenRefreshes: 2,
  tokenSafetyMarginMs: 15 * 60_000,
  baseBackoffMs: 1000,
  maxBackoffMs: 60_000,
  consistencyWindowMs: 5 * 60_000,
};
/** The in-process runs sleep for real: millisecond backoffs. */
const FAST = { ...LIMITS, baseBackoffMs: 1, maxBackoffMs: 2 };

const at = (msFromNow: number) => new Date(NOW.getTime() + msFromNow).toISOString();
const notFound = () =>
  notVisible(
    "KMS_NOT_FOUND",
    "CreateAlias (alias/a -> k, us-east-1): NotFoundException: Key does not exist",
    {
      details: { operation: "CreateAlias", awsError: "NotFoundException" },
    },
  );

function record(patch: Partial<MigrationRecord> = {}): MigrationRecord {
  return {
    ...newMigrationRecord("k1", "us-east-1", { label: "a" }, { tags: {}, multiRegion: false }, NOW),
    phase: "create",
    ...patch,
  };
}

describe("AWS errors that may mean 'not yet'", () => {
  it("NotFoundException and KMSInvalidStateException map to not-visible, keeping their codes; others stay fatal", () => {
    const aws = (name: string) => Object.assign(new Error("m"), { name, $metadata: { httpStatusCode: 400 } });
    expect(mapKmsError(aws("NotFoundException"), "DescribeKey", "x")).toMatchObject({
      kind: "not-visible",
      code: "KMS_NOT_FOUND",
    });
    expect(mapKmsError(aws("KMSInvalidStateException"), "Sign", "x").kind).toBe("not-visible");
    expect(mapKmsError(aws("IncorrectKeyMaterialException"), "ImportKeyMaterial", "x").kind).toBe("fatal");
  });
});

describe("AccessDenied just after this campaign tagged a key (ABAC takes up to five minutes)", () => {
  const aws = (name: string) => Object.assign(new Error("m"), { name, $metadata: { httpStatusCode: 400 } });
  const denied = () => mapKmsError(aws("AccessDeniedException"), "GetParametersForImport", "x");

  it("is waited out within the consistency window after the key was created: its tags may not authorize yet", () => {
    expect(denied()).toMatchObject({ kind: "not-visible", code: "KMS_ACCESS_DENIED" });
    const created = record({ phase: "params", createStartedAt: at(-20_000), kmsKeyId: "k" });
    expect(decideAfterError(created, "params", denied(), LIMITS, NOW).action).toBe("wait");
  });

  it("fails at once when this campaign changed nothing (a missing permission), and after the window", () => {
    expect(decideAfterError(record(), "create", denied(), LIMITS, NOW).action).toBe("fail");
    const old = record({ phase: "verify", createStartedAt: at(-10 * 60_000), kmsKeyId: "k" });
    const decision = decideAfterError(old, "verify", denied(), LIMITS, NOW);
    expect(decision.action).toBe("fail");
    expect(decision.action === "fail" && decision.patch.error?.code).toBe("KMS_ACCESS_DENIED");
  });
});

describe("decideAfterError on a change KMS does not show yet", () => {
  it("fails at once when this campaign changed nothing on the key (it is gone, not late)", () => {
    const decision = decideAfterError(record(), "create", notFound(), LIMITS, NOW);
    expect(decision.action).toBe("fail");
  });

  it("waits within the window after the change, spending no attempt, and remembers since when", () => {
    const changed = record({ createStartedAt: at(-2000), kmsChangedAt: at(-2000), attempts: 2 });
    const decision = decideAfterError(changed, "create", notFound(), LIMITS, NOW);
    expect(decision).toMatchObject({
      action: "wait",
      operation: "CreateAlias",
      patch: { visibilityWait: { since: NOW.toISOString(), waits: 1 } },
    });
    if (decision.action !== "wait") return;
    expect(decision.patch).not.toHaveProperty("attempts");
    expect(decision.patch).not.toHaveProperty("phaseAttempts");
    expect(decision.delayMs).toBeGreaterThan(0);
    expect(decision.delayMs).toBeLessThanOrEqual(1000);
  });

  it("looks a bounded number of times, and fails only once the window has passed, saying so", () => {
    let current = record({ kmsChangedAt: NOW.toISOString() });
    let now = NOW.getTime();
    let decision: AfterError;
    let waits = 0;
    for (;;) {
      decision = decideAfterError(current, "params", notFound(), LIMITS, new Date(now));
      if (decision.action !== "wait") break;
      waits++;
      current = { ...current, ...decision.patch };
      now += decision.delayMs;
    }
    expect(decision.action).toBe("fail");
    expect(now - NOW.getTime()).toBeGreaterThanOrEqual(LIMITS.consistencyWindowMs);
    expect(waits).toBeLessThanOrEqual(VISIBILITY_WAIT_BUDGET + 1);
    expect(waits).toBeGreaterThan(5);
    if (decision.action !== "fail") return;
    expect(decision.patch.error?.code).toBe("KMS_NOT_FOUND");
    expect(decision.patch.error?.message).toMatch(
      /KMS still answered this 5m00s after hsm2kms changed the key/,
    );
    expect(decision.patch.error?.message).toContain("HSM2KMS_KMS_CONSISTENCY_WINDOW is 5m00s");
  });

  it("a phase that records its change again on every try still gives up a window after first seeing it", () => {
    const since = new Date(NOW.getTime() - LIMITS.consistencyWindowMs).toISOString();
    const decision = decideAfterError(
      record({ kmsChangedAt: at(-1000), visibilityWait: { since, waits: 12 } }),
      "create",
      notFound(),
      LIMITS,
      NOW,
    );
    expect(decision.action).toBe("fail");
  });

  it("a window of 0 turns the wait off", () => {
    const decision = decideAfterError(
      record({ kmsChangedAt: NOW.toISOString() }),
      "create",
      notFound(),
      { ...LIMITS, consistencyWindowMs: 0 },
      NOW,
    );
    expect(decision.action).toBe("fail");
  });

  it("at import, a wait that would outlast the import token fetches a new one instead", () => {
    const importParams = {
      wrappingAlgorithm: "RSAES_OAEP_SHA_1" as const,
      wrappingKeySpec: "RSA_2048" as const,
      wrappingPublicKeyB64: "",
      importTokenB64: "secret",
      validTo: at(100),
      fetchedAt: at(-1000),
    };
    const decision = decideAfterError(
      record({ importParams, importStartedAt: NOW.toISOString(), phase: "import" }),
      "import",
      notFound(),
      LIMITS,
      NOW,
    );
    expect(decision).toMatchObject({ action: "refresh", reason: "BACKOFF_PAST_TOKEN_LIFE" });
  });
});

describe("phases under eventual consistency (fake KMS hiding each change for a few lookups)", () => {
  it("a key created, aliased and imported by this campaign migrates once, waiting instead of failing", async () => {
    const h = harness();
    h.kms.unseenLooks = 3;
    const outcomes: string[] = [];
    const result = await runMigrationInProcess(
      h.ctx,
      recordFor(h.hsm.add("ec", "ECC_NIST_P256"), { alias: "alias/late" }),
      FAST,
      { onPhase: (_record, phase, outcome) => void outcomes.push(`${phase}:${outcome}`) },
    );
    expect(result.error).toBeUndefined();
    expect(result.status).toBe("migrated");
    expect(result.verified).toBe("true");
    expect(h.kms.count("CreateKey")).toBe(1);
    expect(h.kms.count("DeleteImportedKeyMaterial")).toBe(0);
    expect(outcomes).toContain("create:wait");
    expect(outcomes).toContain("verify:wait");
    expect(result.attempts).toBe(6);
    expect(result.visibilityWait).toBeUndefined();
  });

  it("HMAC and AES checks wait for a fresh import rather than failing verification and deleting material", async () => {
    for (const spec of ["HMAC_256", "SYMMETRIC_DEFAULT"] as const) {
      const h = harness();
      h.kms.unseenLooks = 2;
      const result = await runMigrationInProcess(h.ctx, recordFor(h.hsm.add(spec, spec)), FAST);
      expect(result.status).toBe("migrated");
      expect(h.kms.count("DeleteImportedKeyMaterial")).toBe(0);
    }
  });

  it("a recorded key not found yet is 'not yet' in create and params, never KMS_KEY_MISSING at once", async () => {
    const h = harness();
    const key = h.hsm.add("ec", "ECC_NIST_P256");
    const preflighted = {
      ...recordFor(key),
      ...(await PHASE_FUNCTIONS.preflight(h.ctx, recordFor(key))).patch,
    };
    const created = await h.kms.createKey({
      keySpec: "ECC_NIST_P256",
      keyUsage: "SIGN_VERIFY",
      tags: {},
      multiRegion: false,
    });
    h.kms.keys.get(created.keyId)!.unseen = { looks: 2, before: "absent" };
    const withKey = { ...preflighted, kmsKeyId: created.keyId, phase: "create" as const };
    expect(await phaseRejection(PHASE_FUNCTIONS.create(h.ctx, withKey))).toMatchObject({
      kind: "not-visible",
      code: "KMS_KEY_MISSING",
    });
    expect(
      await phaseRejection(PHASE_FUNCTIONS.params(h.ctx, { ...withKey, phase: "params" })),
    ).toMatchObject({
      kind: "not-visible",
      code: "KMS_KEY_MISSING",
    });
    expect(h.kms.count("CreateKey")).toBe(1);
    expect(h.kms.count("GetParametersForImport")).toBe(0);
  });

  it("an alias that exists but cannot be seen yet waits instead of being taken for someone else's", async () => {
    const h = harness();
    const key = h.hsm.add("ec", "ECC_NIST_P256");
    const preflighted = {
      ...recordFor(key, { alias: "alias/mine" }),
      ...(await PHASE_FUNCTIONS.preflight(h.ctx, recordFor(key, { alias: "alias/mine" }))).patch,
    };
    const created = await PHASE_FUNCTIONS.create(h.ctx, preflighted);
    const keyId = created.patch.kmsKeyId!;
    // A lost CreateAlias answer: the alias is made, unseen; the repeat hears AlreadyExists.
    h.kms.unseenLooks = 5;
    h.kms.aliases.delete("alias/mine");
    await h.kms.createAlias("alias/mine", keyId);
    const again = await phaseRejection(PHASE_FUNCTIONS.create(h.ctx, { ...preflighted, kmsKeyId: keyId }));
    expect(again).toMatchObject({ kind: "not-visible", code: "ALIAS_NOT_VISIBLE" });
    expect(h.kms.count("CreateKey")).toBe(1);
  });

  it("a replica still Creating waits in params without spending a GetParametersForImport", async () => {
    const h = harness();
    const key = h.hsm.add("mrk", "ECC_NIST_P256");
    const primary = await runMigrationInProcess(h.ctx, recordFor(key, { multiRegion: true }), FAST);
    h.records.set(primary.id, primary);
    h.kms.unseenLooks = 3;
    const replica = await runMigrationInProcess(
      h.ctx,
      {
        ...recordFor(key, { multiRegion: true }),
        id: "k-mrk-eu",
        region: "eu-west-1",
        replicaOf: primary.id,
      },
      FAST,
    );
    expect(replica.status).toBe("migrated");
    expect(h.kms.count("ReplicateKey")).toBe(1);
    expect(h.replicaKms.count("GetParametersForImport")).toBe(1);
  });

  it("ReplicateKey answering AlreadyExists for a replica not seen yet waits instead of failing", async () => {
    const h = harness();
    const key = h.hsm.add("mrk", "ECC_NIST_P256");
    const primary = await runMigrationInProcess(h.ctx, recordFor(key, { multiRegion: true }), FAST);
    h.records.set(primary.id, primary);
    const replica = {
      ...recordFor(key, { multiRegion: true }),
      id: "k-mrk-eu",
      region: "eu-west-1",
      replicaOf: primary.id,
    };
    const preflighted = { ...replica, ...(await PHASE_FUNCTIONS.preflight(h.ctx, replica)).patch };
    const made = await PHASE_FUNCTIONS.create(h.ctx, preflighted);
    // The answer was lost: the ledger has no replica id, and DescribeKey in its Region does not show it yet.
    h.replicaKms.keys.get(made.patch.kmsKeyId!)!.unseen = { looks: 5, before: "absent" };
    const again = await phaseRejection(
      PHASE_FUNCTIONS.create(h.ctx, { ...preflighted, kmsKeyId: undefined }),
    );
    expect(again).toMatchObject({ kind: "not-visible", code: "REPLICA_NOT_VISIBLE" });
    expect(h.checkpoints.at(-1)).toEqual({ kmsKeyId: made.patch.kmsKeyId });
    const recorded = await phaseRejection(
      PHASE_FUNCTIONS.create(h.ctx, { ...preflighted, ...h.checkpoints.at(-1) }),
    );
    expect(recorded).toMatchObject({ kind: "not-visible", code: "KMS_KEY_MISSING" });
    expect(h.kms.count("ReplicateKey")).toBe(2);
    expect(h.replicaKms.keys.size).toBe(1);
  });
});

describe("hsm2kms_kms_not_yet_visible_total", () => {
  it("starts at zero for a served Region and counts each wait by operation", async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const events = new WorkerEvents();
    observeWorkers(events, metrics);
    const series = 'hsm2kms_kms_not_yet_visible_total{operation="GetParametersForImport",region="eu-west-1"}';
    const value = async () =>
      (await metrics.registry.metrics()).split("\n").find((line) => line.startsWith(`${series} `));
    events.emit("region:served", { region: "eu-west-1", phases: ["params"] });
    expect(await value()).toMatch(/ 0$/);
    events.emit("kms:not-visible", { operation: "GetParametersForImport", region: "eu-west-1" });
    events.emit("kms:not-visible", { operation: "GetParametersForImport", region: "eu-west-1" });
    expect(await value()).toMatch(/ 2$/);
  });
});

describe("HSM2KMS_KMS_CONSISTENCY_WINDOW", () => {
  it("is a duration, 5m by default, 0 allowed; anything else names the variable", () => {
    expect(loadConfig({}).kmsConsistencyWindowMs).toBe(300_000);
    expect(loadConfig({ HSM2KMS_KMS_CONSISTENCY_WINDOW: "90s" }).kmsConsistencyWindowMs).toBe(90_000);
    expect(loadConfig({ HSM2KMS_KMS_CONSISTENCY_WINDOW: "0" }).kmsConsistencyWindowMs).toBe(0);
    expect(() => loadConfig({ HSM2KMS_KMS_CONSISTENCY_WINDOW: "five minutes" })).toThrow(
      /HSM2KMS_KMS_CONSISTENCY_WINDOW="five minutes" is invalid/,
    );
  });
});
