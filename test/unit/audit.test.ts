import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { type AuditSummary, auditMigration, manifestExpectations } from "../../src/assurance/audit.js";
import { formatManifestCsv, migrationId, readManifest } from "../../src/manifest/read.js";
import { retryable } from "../../src/shared/errors.js";
import type { MigrationRecord } from "../../src/shared/migration.js";
import { runMigrationInProcess } from "../../src/workers/in-process-runner.js";
import { harness, recordFor } from "../helpers/phase-harness.js";

const LIMITS = { maxAttempts: 3, maxTokenRefreshes: 3, tokenSafetyMarginMs: 15 * 60_000 };

/** Audits records against the harness's fake HSM and KMS. */
async function auditOf(
  h: ReturnType<typeof harness>,
  records: MigrationRecord[],
  concurrency = 2,
): Promise<{ lines: Array<{ label: string; result: string; detail: string }>; summary: AuditSummary }> {
  const summary: AuditSummary = { audited: 0, byResult: {}, notMigrated: 0, problems: 0 };
  const lines = [];
  async function* source() {
    yield* records;
  }
  for await (const line of auditMigration(
    source(),
    { hsm: h.hsm, kms: h.ctx.kms, randomBytes },
    summary,
    concurrency,
  ))
    lines.push({ label: line.source_label, result: line.result, detail: line.detail });
  return { lines, summary };
}

async function migrated(h: ReturnType<typeof harness>, label: string, spec: Parameters<typeof h.hsm.add>[1]) {
  const record = await runMigrationInProcess(h.ctx, recordFor(h.hsm.add(label, spec)), LIMITS);
  expect(record.status).toBe("migrated");
  return record;
}

describe("auditMigration", () => {
  it("keeps the ledger's order across batches and counts keys that are not migrated without auditing them", async () => {
    const h = harness();
    const records = [
      await migrated(h, "a", "ECC_NIST_P256"),
      await migrated(h, "b", "HMAC_256"),
      { ...(await migrated(h, "c", "ECC_NIST_P384")), status: "failed" as const },
      await migrated(h, "d", "SYMMETRIC_DEFAULT"),
      await migrated(h, "e", "RSA_2048"),
    ];
    const { lines, summary } = await auditOf(h, records);
    expect(lines.map((line) => `${line.label} ${line.result}`)).toEqual([
      "a identical",
      "b identical",
      "d not-comparable",
      "e identical",
    ]);
    expect(summary).toEqual({
      audited: 4,
      byResult: { identical: 3, "not-comparable": 1 },
      notMigrated: 1,
      problems: 0,
    });
  });

  it("names a KMS key that is not enabled, one that was not imported, and a KMS error, as problems", async () => {
    const h = harness();
    const disabled = await migrated(h, "disabled", "ECC_NIST_P256");
    const generated = await migrated(h, "generated", "ECC_NIST_P256");
    const failing = await migrated(h, "failing", "ECC_NIST_P256");
    const info = (record: MigrationRecord) => h.kms.keys.get(record.kmsKeyId ?? "")?.info;
    const disabledInfo = info(disabled);
    const generatedInfo = info(generated);
    if (!disabledInfo || !generatedInfo) expect.fail("the fake KMS lost a key");
    disabledInfo.keyState = "PendingDeletion";
    generatedInfo.origin = "AWS_KMS";
    const { lines, summary } = await auditOf(h, [disabled, generated], 1);
    expect(lines).toEqual([
      { label: "disabled", result: "kms-key-not-enabled", detail: "the KMS key is PendingDeletion" },
      {
        label: "generated",
        result: "mismatch",
        detail: "the KMS key's origin is AWS_KMS, not EXTERNAL (imported)",
      },
    ]);
    expect(summary.problems).toBe(2);

    h.kms.failNext("GetPublicKey", retryable("KMS_UNAVAILABLE", "KMSInternalException"));
    const { lines: errored } = await auditOf(h, [failing]);
    expect(errored).toEqual([
      { label: "failing", result: "error", detail: "KMS_UNAVAILABLE: KMSInternalException" },
    ]);
  });

  it("an HMAC key whose KMS key holds other material is a mismatch", async () => {
    const h = harness();
    const hmac = await migrated(h, "mac", "HMAC_256");
    const other = await migrated(h, "other-mac", "HMAC_256");
    const { lines } = await auditOf(h, [{ ...hmac, kmsKeyId: other.kmsKeyId }]);
    expect(lines).toEqual([
      {
        label: "mac",
        result: "mismatch",
        detail: "KMS GenerateMac differs from the HSM's HMAC (HMAC_SHA_256)",
      },
    ]);
  });

  it("with a manifest, a replica Region the ledger does not hold is not-in-ledger", async () => {
    const h = harness();
    const primary = await migrated(h, "mrk", "ECC_NIST_P256");
    const csv = formatManifestCsv([
      {
        source_label: "mrk",
        source_id: primary.source.idHex ?? "",
        region: "us-east-1",
        multi_region: "true",
        replica_regions: "eu-west-1;ap-southeast-2",
      },
    ]);
    const manifest = await manifestExpectations(
      readManifest(Readable.from([csv]), { defaultRegion: undefined }),
    );
    expect([...manifest.expected.values()].map((key) => key.region)).toEqual([
      "us-east-1",
      "eu-west-1",
      "ap-southeast-2",
    ]);
    // The ledger holds the primary (its id is the manifest's) and the eu-west-1 replica, not yet migrated.
    const primaryRecord = {
      ...primary,
      id: migrationId({ region: "us-east-1", sourceLabel: "mrk", sourceIdHex: primary.source.idHex }),
    };
    const replica = {
      ...primaryRecord,
      id: migrationId({ region: "eu-west-1", sourceLabel: "mrk", sourceIdHex: primary.source.idHex }),
      status: "queued" as const,
    };
    const summary: AuditSummary = { audited: 0, byResult: {}, notMigrated: 0, problems: 0 };
    async function* ledger() {
      yield* [primaryRecord, replica];
    }
    const lines = [];
    for await (const line of auditMigration(
      ledger(),
      { hsm: h.hsm, kms: h.ctx.kms, randomBytes },
      summary,
      2,
      manifest,
    ))
      lines.push(`${line.source_label} ${line.region} ${line.result}`);
    expect(lines).toEqual(["mrk us-east-1 identical", "mrk ap-southeast-2 not-in-ledger"]);
    expect(summary).toMatchObject({ notMigrated: 1, problems: 1 });
  });
});
