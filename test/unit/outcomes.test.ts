import { describe, expect, it } from "vitest";
import { fatal, retryable, throttled, tokenExpired } from "../../src/shared/errors.js";
import { type MigrationRecord, newMigrationRecord } from "../../src/shared/migration.js";
import { backoffMs, decideAfterError } from "../../src/workers/outcomes.js";

const NOW = new Date("2026-11-28T12:00:00Z");
const LIMITS = {
  maxAttempts: 4,
  maxTokenRefreshes: 2,
  tokenSafetyMarginMs: 15 * 60_000,
  baseBackoffMs: 1000,
  maxBackoffMs: 60_000,
};

function record(patch: Partial<MigrationRecord> = {}): MigrationRecord {
  return {
    ...newMigrationRecord("k1", "us-east-1", { label: "a" }, { tags: {}, multiRegion: false }, NOW),
    ...patch,
  };
}

/** Import parameters fetched at `fetchedMsAgo` with `lifeMs` of life in total. */
function token(lifeMs: number, fetchedMsAgo = 0) {
  const fetchedAt = new Date(NOW.getTime() - fetchedMsAgo);
  return {
    wrappingAlgorithm: "RSAES_OAEP_SHA_1" as const,
    wrappingKeySpec: "RSA_2048" as const,
    wrappingPublicKeyB64: "",
    importTokenB64: "secret",
    validTo: new Date(fetchedAt.getTime() + lifeMs).toISOString(),
    fetchedAt: fetchedAt.toISOString(),
  };
}

describe("decideAfterError", () => {
  it("fails a fatal error at once, with the phase and reason, and drops import secrets", () => {
    const decision = decideAfterError(
      record({ importParams: token(86_400_000), wrappedMaterialB64: "x" }),
      "import",
      fatal("KMS_INCORRECT_KEY_MATERIAL", "bad"),
      LIMITS,
      NOW,
    );
    expect(decision.action).toBe("fail");
    if (decision.action !== "fail") return;
    expect(decision.patch).toMatchObject({
      status: "failed",
      error: { code: "KMS_INCORRECT_KEY_MATERIAL", phase: "import" },
    });
    expect(decision.patch.importParams).toBeUndefined();
    expect("importParams" in decision.patch && "wrappedMaterialB64" in decision.patch).toBe(true);
  });

  it("pauses for a throttle without spending an attempt", () => {
    expect(
      decideAfterError(
        record(),
        "params",
        throttled("KMS_THROTTLED", "slow down", { retryAfterMs: 1234 }),
        LIMITS,
        NOW,
      ),
    ).toEqual({ action: "throttle", delayMs: 1234 });
  });

  it("retries with growing backoff until maxAttempts, then fails saying so", () => {
    const first = decideAfterError(record(), "create", retryable("KMS_UNAVAILABLE", "500"), LIMITS, NOW);
    expect(first).toMatchObject({ action: "retry", patch: { phaseAttempts: 1, attempts: 1 } });
    const last = decideAfterError(
      record({ phaseAttempts: 3, attempts: 3 }),
      "create",
      retryable("KMS_UNAVAILABLE", "500"),
      LIMITS,
      NOW,
    );
    expect(last).toMatchObject({
      action: "fail",
      patch: { error: { message: "500 (gave up after 4 attempts in create)" } },
    });
  });

  it("sends a token error back to params with a new generation, until maxTokenRefreshes", () => {
    const refresh = decideAfterError(
      record({ generation: 3, tokenRefreshes: 1 }),
      "import",
      tokenExpired("IMPORT_TOKEN_EXPIRED", "expired"),
      LIMITS,
      NOW,
    );
    expect(refresh).toMatchObject({
      action: "refresh",
      reason: "IMPORT_TOKEN_EXPIRED",
      outcome: { next: "params", patch: { generation: 4, tokenRefreshes: 2 } },
    });
    const exhausted = decideAfterError(
      record({ tokenRefreshes: 2 }),
      "import",
      tokenExpired("IMPORT_TOKEN_EXPIRED", "expired"),
      LIMITS,
      NOW,
    );
    expect(exhausted.action).toBe("fail");
  });

  it("never backs off past the token's life: refreshes now instead", () => {
    // 20 minutes left, 15 minutes margin: a backoff of several minutes would wake to an unusable token.
    const nearlyDead = record({
      phaseAttempts: 6,
      importParams: token(86_400_000, 86_400_000 - 20 * 60_000),
    });
    const decision = decideAfterError(
      nearlyDead,
      "wrap",
      retryable("HSM_UNAVAILABLE", "down"),
      { ...LIMITS, maxAttempts: 10, baseBackoffMs: 60_000, maxBackoffMs: 600_000 },
      NOW,
    );
    expect(decision).toMatchObject({ action: "refresh", reason: "BACKOFF_PAST_TOKEN_LIFE" });
    const healthy = record({ phaseAttempts: 1, importParams: token(86_400_000) });
    expect(decideAfterError(healthy, "wrap", retryable("HSM_UNAVAILABLE", "down"), LIMITS, NOW).action).toBe(
      "retry",
    );
  });

  it("backoff doubles per attempt with jitter, capped", () => {
    expect(backoffMs(1, LIMITS, () => 1)).toBe(1000);
    expect(backoffMs(3, LIMITS, () => 1)).toBe(4000);
    expect(backoffMs(3, LIMITS, () => 0)).toBe(2000);
    expect(backoffMs(20, LIMITS, () => 1)).toBe(60_000);
  });
});
