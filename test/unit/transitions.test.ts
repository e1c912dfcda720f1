import { describe, expect, it } from "vitest";
import {
  deferred,
  fatal,
  type MigrationError,
  notVisible,
  retryable,
  throttled,
  tokenExpired,
} from "../../src/shared/errors.js";
import { type MigrationRecord, newMigrationRecord, type PhaseName } from "../../src/shared/migration.js";
import { type AfterError, decideAfterError, type RetryLimits } from "../../src/workers/outcomes.js";
import type { PhaseOutcome } from "../../src/workers/phases/index.js";
import {
  applyDecision,
  applyOutcome,
  beginRecord,
  giveUp,
  type Schedule,
} from "../../src/workers/transitions.js";

const NOW = new Date("2026-11-28T12:00:00Z");
const LIMITS: RetryLimits = {
  maxAttempts: 3,
  maxTokenRefreshes: 2,
  tokenSafetyMarginMs: 0,
  baseBackoffMs: 1000,
  maxBackoffMs: 60_000,
  maxDeferrals: 2,
};
const SECRETS = {
  importParams: {
    wrappingAlgorithm: "RSAES_OAEP_SHA_256" as const,
    wrappingKeySpec: "RSA_2048" as const,
    wrappingPublicKeyB64: "cHVi",
    importTokenB64: "dG9rZW4=",
    validTo: new Date(NOW.getTime() + 86_400_000).toISOString(),
    fetchedAt: NOW.toISOString(),
  },
  wrappedMaterialB64: "d3JhcHBlZA==",
};

function record(patch: Partial<MigrationRecord> = {}): MigrationRecord {
  return {
    ...newMigrationRecord("k1", "us-east-1", { label: "a" }, { tags: {}, multiRegion: false }, NOW),
    status: "in_progress",
    ...patch,
  };
}

describe("beginRecord", () => {
  it("marks a queued key in progress, and leaves one already in progress as the same object", () => {
    expect(beginRecord(record({ status: "queued" })).status).toBe("in_progress");
    const running = record();
    expect(beginRecord(running)).toBe(running);
  });
});

describe("applyOutcome", () => {
  const cases: Array<[string, PhaseOutcome, Partial<MigrationRecord>, Schedule]> = [
    [
      "a handover to the next phase",
      { patch: { kmsKeyId: "key-1" }, next: "params" },
      { phase: "params", status: "in_progress", kmsKeyId: "key-1" },
      { kind: "handover" },
    ],
    [
      "the last phase: migrated, error cleared, completed",
      { patch: { verified: "true" }, next: "done" },
      {
        phase: "done",
        status: "migrated",
        verified: "true",
        error: undefined,
        completedAt: NOW.toISOString(),
      },
      { kind: "finished", status: "migrated" },
    ],
  ];
  it.each(cases)("%s", (_name, outcome, expected, schedule) => {
    const before = record({
      phase: "create",
      attempts: 4,
      phaseAttempts: 2,
      visibilityWait: { since: NOW.toISOString(), waits: 3 },
      error: {
        code: "KMS_UNAVAILABLE",
        kind: "retryable",
        phase: "create",
        message: "500",
        at: NOW.toISOString(),
      },
    });
    const transition = applyOutcome(before, outcome, NOW);
    expect(transition.schedule).toEqual(schedule);
    expect(transition.record).toMatchObject(expected);
    // Every success counts one attempt and resets what is counted per phase.
    expect(transition.record.attempts).toBe(5);
    expect(transition.record.phaseAttempts).toBe(0);
    expect(transition.record.visibilityWait).toBeUndefined();
    expect(before.phase).toBe("create"); // pure: the input is not changed
  });

  it("keeps an earlier retry's error until the key is done", () => {
    const error = {
      code: "HSM_UNAVAILABLE",
      kind: "retryable",
      phase: "wrap" as const,
      message: "x",
      at: "",
    };
    const next = applyOutcome(record({ phase: "wrap", error }), { patch: {}, next: "import" }, NOW).record;
    expect(next.error).toEqual(error);
  });
});

/** Decides after `error` in `phase` and applies the decision, as both runners do. */
function afterError(before: MigrationRecord, phase: PhaseName, error: MigrationError, limits = LIMITS) {
  const decision = decideAfterError(before, phase, error, limits, NOW);
  return { decision, ...applyDecision(before, decision) };
}

describe("applyDecision, for every kind of error", () => {
  const cases: Array<
    [string, Partial<MigrationRecord>, PhaseName, MigrationError, AfterError["action"], Schedule["kind"]]
  > = [
    ["fatal", {}, "preflight", fatal("SOURCE_KEY_NOT_EXTRACTABLE", "no"), "fail", "finished"],
    ["retryable, attempts left", {}, "create", retryable("KMS_UNAVAILABLE", "500"), "retry", "again-later"],
    [
      "retryable, last attempt",
      { phaseAttempts: 2 },
      "create",
      retryable("KMS_UNAVAILABLE", "500"),
      "fail",
      "finished",
    ],
    [
      "throttled",
      {},
      "params",
      throttled("KMS_THROTTLED", "slow", { retryAfterMs: 700 }),
      "throttle",
      "pause-queue",
    ],
    ["token expired", SECRETS, "import", tokenExpired("IMPORT_TOKEN_EXPIRED", "old"), "refresh", "handover"],
    [
      "token expired, refreshes used up",
      { ...SECRETS, tokenRefreshes: 2 },
      "import",
      tokenExpired("IMPORT_TOKEN_EXPIRED", "old"),
      "fail",
      "finished",
    ],
    ["deferred", {}, "create", deferred("PRIMARY_NOT_MIGRATED", "later"), "retry", "again-later"],
    [
      "deferred, waits used up",
      { deferrals: 2 },
      "create",
      deferred("PRIMARY_NOT_MIGRATED", "later"),
      "fail",
      "finished",
    ],
    [
      "not visible, within the window",
      { kmsChangedAt: NOW.toISOString() },
      "params",
      notVisible("KMS_NOT_FOUND", "unseen"),
      "wait",
      "again-later",
    ],
    ["not visible, nothing changed", {}, "params", notVisible("KMS_NOT_FOUND", "gone"), "fail", "finished"],
  ];

  it.each(cases)("%s", (_name, patch, phase, error, action, schedule) => {
    const before = record({ phase, ...patch });
    const { decision, record: after, schedule: next } = afterError(before, phase, error);
    expect(decision.action).toBe(action);
    expect(next.kind).toBe(schedule);
    if (next.kind === "again-later" || next.kind === "pause-queue")
      expect(next.delayMs).toBe((decision as { delayMs: number }).delayMs);
    if (next.kind === "finished") {
      expect(next.status).toBe("failed");
      expect(after).toMatchObject({ status: "failed", phase, error: { code: error.code, phase } });
      expect(after.importParams).toBeUndefined();
      expect(after.wrappedMaterialB64).toBeUndefined();
    }
  });

  it("a retry spends an attempt in the phase and records the error", () => {
    const { record: after } = afterError(
      record({ phase: "wrap", attempts: 3, phaseAttempts: 1 }),
      "wrap",
      retryable("HSM_UNAVAILABLE", "down"),
    );
    expect(after).toMatchObject({
      attempts: 4,
      phaseAttempts: 2,
      status: "in_progress",
      error: { code: "HSM_UNAVAILABLE" },
    });
  });

  it("a throttle changes nothing: the very same record, no attempt spent", () => {
    const before = record({ phase: "params" });
    expect(afterError(before, "params", throttled("KMS_THROTTLED", "slow")).record).toBe(before);
  });

  it("a token refresh goes back to params with a new generation, forgets the token and resets the phase's attempts", () => {
    const before = record({
      ...SECRETS,
      phase: "import",
      generation: 4,
      tokenRefreshes: 1,
      phaseAttempts: 2,
    });
    const { record: after } = afterError(before, "import", tokenExpired("IMPORT_TOKEN_INVALID", "bad"));
    expect(after).toMatchObject({ phase: "params", generation: 5, tokenRefreshes: 2, phaseAttempts: 0 });
    expect(after.importParams).toBeUndefined();
    expect(after.wrappedMaterialB64).toBeUndefined();
  });

  it("a wait counts the look without spending an attempt", () => {
    const before = record({
      phase: "params",
      kmsChangedAt: NOW.toISOString(),
      attempts: 2,
      phaseAttempts: 1,
    });
    const { record: after } = afterError(before, "params", notVisible("KMS_NOT_FOUND", "unseen"));
    expect(after).toMatchObject({ attempts: 2, phaseAttempts: 1, visibilityWait: { waits: 1 } });
  });

  it("every loop is capped: retrying the same error ends in a failure within maxAttempts", () => {
    let current = record({ phase: "create" });
    let runs = 0;
    while (current.status === "in_progress") {
      current = afterError(current, "create", retryable("KMS_UNAVAILABLE", "500")).record;
      runs++;
    }
    expect(runs).toBe(LIMITS.maxAttempts);
    expect(current.error?.message).toContain(`gave up after ${LIMITS.maxAttempts} attempts`);
  });
});

describe("giveUp", () => {
  it("fails the key where it stopped, with the code and message, and forgets the import secrets", () => {
    const { record: after, schedule } = giveUp(
      record({ ...SECRETS, phase: "wrap" }),
      "wrap",
      "WORKER_LOST",
      "lost",
      NOW,
    );
    expect(schedule).toEqual({ kind: "finished", status: "failed" });
    expect(after).toMatchObject({
      status: "failed",
      completedAt: NOW.toISOString(),
      error: { code: "WORKER_LOST", kind: "fatal", phase: "wrap", message: "lost" },
    });
    expect(after.importParams).toBeUndefined();
  });
});
