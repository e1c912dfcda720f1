import { describe, expect, it } from "vitest";
import type { StatusReport } from "../../src/campaign/status.js";
import { formatStatus } from "../../src/cli/commands/status.js";
import type { ExpiringMaterialStatus } from "../../src/lifecycle/expiry-status.js";

/** A campaign of 14 keys in one Region: `remaining` still to finish, the rest migrated. */
function report(remaining: number, expiringMaterial?: ExpiringMaterialStatus): StatusReport {
  const finished = 14 - remaining;
  const region = {
    region: "us-east-1",
    total: 14,
    migrated: finished,
    failed: 0,
    remaining,
    percentFinished: (finished / 14) * 100,
    quotaFloorSeconds: remaining,
  };
  return {
    total: 14,
    byStatus: { migrated: finished, ...(remaining > 0 ? { queued: remaining } : {}) },
    byPhase: {},
    phases: {},
    queues: {},
    regions: ["us-east-1"],
    byRegion: [region],
    byTarget: [{ ...region, account: null }],
    startedAt: "2026-11-30T12:00:00.000Z",
    elapsedSeconds: remaining > 0 ? 300 : 420,
    percentFinished: (finished / 14) * 100,
    percentMigrated: (finished / 14) * 100,
    // Measured live: once every key has finished, it falls as time passes.
    keysPerMinute: 0.5,
    windowMinutes: 5,
    rateBasis: "window",
    rateSeconds: 300,
    remaining,
    etaSeconds: remaining > 0 ? 60 : 0,
    quotaFloorSeconds: remaining,
    failures: [],
    recentFailures: [],
    expiringMaterial,
  } as StatusReport;
}

describe("hsm2kms status, as people read it", () => {
  it("gives the rate and ETA while keys remain, and the whole run's rate once none do", () => {
    expect(formatStatus(report(4), 1)).toMatch(
      /rate 0\.5 keys\/min over the last 5 min; 4 remaining; ETA 1m00s \(at best 4\.0s at 1 GetParametersForImport\/s per Region\)/,
    );
    const elsewhere = report(4);
    elsewhere.byTarget.push({ ...elsewhere.byTarget[0]!, account: "222222222222" });
    expect(formatStatus(elsewhere, 1)).toContain("GetParametersForImport/s per account and Region)");
    const done = formatStatus(report(0), 1);
    expect(done).toContain("every key has finished: 14 in 7m00s, 2.0 keys/min overall");
    expect(done).not.toMatch(/ETA|remaining/);
  });

  it("says a due renewal is due now rather than showing a time already past", () => {
    const expiry = (due: number): ExpiringMaterialStatus => ({
      keys: 1,
      soonestValidTo: "2026-12-01T00:00:00.000Z",
      soonestKey: "payments-1",
      nextRenewal: "2026-11-17T00:00:00.000Z",
      due,
      expired: 0,
      lastRenewedAt: undefined,
      renewalFailures: 0,
      urgentFailures: 0,
      failures: [],
    });
    expect(formatStatus(report(0, expiry(1)), 1)).toContain(
      "expiring material: 1 key, 1 due for renewal, 0 expired; soonest ValidTo 2026-12-01T00:00:00.000Z (payments-1), next renewal due now (was 2026-11-17T00:00:00.000Z)",
    );
    expect(formatStatus(report(0, expiry(0)), 1)).toContain("next renewal 2026-11-17T00:00:00.000Z;");
  });
});
