import { describe, expect, it } from "vitest";
import { selectPhases } from "../../src/cli/commands/worker.js";
import { dueForRenewal, renewalYields, renewSchedulerId } from "../../src/lifecycle/renew-schedule.js";
import { loadConfig } from "../../src/shared/config.js";
import { ConfigError } from "../../src/shared/errors.js";
import { type MigrationRecord, newMigrationRecord, PHASES } from "../../src/shared/migration.js";
import { renewBullPrefix, renewQueueName } from "../../src/shared/queues.js";

const withHsm = loadConfig({
  HSM2KMS_PKCS11_LIB: process.execPath,
  HSM2KMS_TOKEN_LABEL: "payments",
  HSM2KMS_PKCS11_PIN: "1234",
});
const withoutHsm = loadConfig({});

describe("which workers run the scheduled renewal", () => {
  it("runs it by default on an HSM host, never under --until-idle nor without the HSM", () => {
    expect(selectPhases(undefined, withHsm)).toEqual({ phases: [...PHASES], renew: true });
    expect(selectPhases(undefined, withHsm, true)).toEqual({ phases: [...PHASES], renew: false });
    expect(selectPhases(undefined, withoutHsm).renew).toBe(false);
    expect(selectPhases("renew", withHsm)).toEqual({ phases: [], renew: true });
    expect(selectPhases("preflight, wrap ,renew", withHsm)).toEqual({
      phases: ["preflight", "wrap"],
      renew: true,
    });
    expect(selectPhases("create,params", withHsm).renew).toBe(false);
  });

  it("refuses renew with --until-idle, or on a host without the HSM, naming the fix", () => {
    expect(() => selectPhases("renew", withHsm, true)).toThrow(
      /renew is a schedule and never idles.*hsm2kms renew/,
    );
    expect(() => selectPhases("create,renew", withoutHsm)).toThrow(ConfigError);
    expect(() => selectPhases("create,renw", withHsm)).toThrow(
      /from preflight,create,params,wrap,import,verify,renew/,
    );
  });

  it("keeps one scheduler and the queues in the campaign's keys, each queue under one hash tag", () => {
    expect(renewSchedulerId("payments")).toBe("renew-payments");
    expect(renewBullPrefix("payments")).toBe("payments:{renew}");
    expect(renewBullPrefix("payments", "eu-west-1")).toBe("payments:{renew-eu-west-1}");
    expect(renewQueueName("eu-west-1")).toBe("renew-eu-west-1");
    // Another account's keys: a queue of their own, paced by its own limiter (quotas hold per account and Region).
    expect(renewBullPrefix("payments", { account: "222222222222", region: "eu-west-1" })).toBe(
      "payments:{renew-222222222222-eu-west-1}",
    );
  });
});

describe("what a scheduled run finds due", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");
  const day = 86_400_000;
  const migrated = (
    expiresInMs: number | undefined,
    extra: Partial<MigrationRecord> = {},
  ): MigrationRecord => ({
    ...newMigrationRecord(
      "k1",
      "us-east-1",
      { label: "payments-1" },
      {
        tags: {},
        multiRegion: false,
        expiresAt: expiresInMs === undefined ? undefined : new Date(now + expiresInMs).toISOString(),
      },
      new Date(now),
    ),
    status: "migrated",
    phase: "done",
    kmsKeyId: "1234abcd-12ab-34cd-56ef-1234567890ab",
    ...extra,
  });

  it("takes material expiring within the window, or expired, or a renewal left unfinished", () => {
    expect(dueForRenewal(migrated(13 * day), now, 14 * day)).toBe(true);
    expect(dueForRenewal(migrated(-day), now, 14 * day)).toBe(true);
    expect(dueForRenewal(migrated(15 * day), now, 14 * day)).toBe(false);
    const claim = {
      holder: "job-x",
      validTo: new Date(now + 90 * day).toISOString(),
      until: new Date(now).toISOString(),
    };
    expect(dueForRenewal(migrated(15 * day, { renewalClaim: claim }), now, 14 * day)).toBe(true);
  });

  it("leaves alone keys without expiring material, not migrated, or abandoned", () => {
    expect(dueForRenewal(migrated(undefined), now, 14 * day)).toBe(false);
    expect(dueForRenewal(migrated(day, { status: "in_progress" }), now, 14 * day)).toBe(false);
    expect(dueForRenewal(migrated(day, { abandonedAt: new Date(now).toISOString() }), now, 14 * day)).toBe(
      false,
    );
    expect(dueForRenewal(migrated(day, { kmsKeyId: undefined }), now, 14 * day)).toBe(false);
  });

  it("yields to a migration using the quota in its Region, unless the material expires within half the window or a renewal is under way", () => {
    const claim = {
      holder: "job-x",
      validTo: new Date(now + 90 * day).toISOString(),
      until: new Date(now + 60_000).toISOString(),
    };
    expect(renewalYields(migrated(10 * day), true, now, 14 * day)).toBe(true);
    expect(renewalYields(migrated(10 * day), false, now, 14 * day)).toBe(false);
    expect(renewalYields(migrated(7 * day - 1), true, now, 14 * day)).toBe(false);
    expect(renewalYields(migrated(-day), true, now, 14 * day)).toBe(false);
    expect(renewalYields(migrated(10 * day, { renewalClaim: claim }), true, now, 14 * day)).toBe(false);
    expect(renewalYields(undefined, true, now, 14 * day)).toBe(false);
  });
});
