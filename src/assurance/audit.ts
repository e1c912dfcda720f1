import { formatProblem } from "../manifest/read.js";
import { migrationRecordsOf } from "../manifest/records.js";
import type { ManifestEntry } from "../manifest/types.js";
import { isMigrationError } from "../shared/errors.js";
import type { HsmPort, SourceKeyRef } from "../shared/hsm/types.js";
import { isKeySpec, keySpecInfo } from "../shared/key-specs.js";
import type { KmsPort } from "../shared/kms/types.js";
import type { MigrationRecord } from "../shared/migration.js";

/**
 * What the audit found for one migrated key, comparing the HSM and KMS directly (nothing read from Redis but
 * which HSM key went to which KMS key):
 * - `identical`: KMS holds the HSM's key (same public key; or the same HMAC of a fresh random message);
 * - `not-comparable`: AES keys: a KMS ciphertext cannot be opened outside KMS (verify did a KMS round trip);
 * - the rest are problems: `mismatch`, `missing-in-hsm`, `missing-in-kms`, `kms-key-not-enabled`,
 *   `duplicate` (two keys of the ledger name the same KMS key, or the same HSM key in the same Region), `error`,
 *   with a manifest, `not-in-ledger` (a row, or a replica Region of one, with no migration record), and
 *   `orphan` (a live KMS key tagged with this campaign that its ledger does not track: `abandon --orphans`).
 */
export type AuditResult =
  | "identical"
  | "not-comparable"
  | "mismatch"
  | "missing-in-hsm"
  | "missing-in-kms"
  | "kms-key-not-enabled"
  | "duplicate"
  | "not-in-ledger"
  | "orphan"
  | "error";

export const AUDIT_COLUMNS = [
  "source_label",
  "source_id",
  "region",
  "kms_key_id",
  "key_spec",
  "result",
  "detail",
  // The 12-digit target account (empty: the caller's own), last so that scripts reading by position keep working.
  "account",
] as const;

export interface AuditLine {
  source_label: string;
  source_id: string;
  region: string;
  kms_key_id: string;
  key_spec: string;
  result: AuditResult;
  detail: string;
  account: string;
}

/** A key a manifest asks for: one per row and per replica Region, by migration id. */
export interface ExpectedKey {
  line: number;
  label: string | undefined;
  idHex: string | undefined;
  region: string;
  account: string | undefined;
}

/** What a manifest asks for: the keys by migration id, and its rejected rows (never enqueued). */
export interface ManifestExpectations {
  expected: Map<string, ExpectedKey>;
  rejected: AuditLine[];
}

/** Reads what a manifest asks for: the records `enqueue` would make of it (src/manifest/records.ts). */
export async function manifestExpectations(
  entries: AsyncIterable<ManifestEntry>,
): Promise<ManifestExpectations> {
  const expected = new Map<string, ExpectedKey>();
  const rejected: AuditLine[] = [];
  for await (const entry of entries) {
    if (entry.kind === "rejected") {
      rejected.push({
        source_label: "",
        source_id: "",
        region: "",
        kms_key_id: "",
        key_spec: "",
        result: "not-in-ledger",
        detail: `manifest ${entry.problems.map(formatProblem).join("; ")} (the row is invalid: enqueue rejects it)`,
        account: "",
      });
      continue;
    }
    for (const record of migrationRecordsOf(entry.row, { now: new Date() }))
      expected.set(record.id, {
        line: entry.row.line,
        label: record.source.label,
        idHex: record.source.idHex,
        region: record.region,
        account: record.account,
      });
  }
  return { expected, rejected };
}

export interface AuditPorts {
  hsm: HsmPort;
  /** The KMS port of a Region in an account (undefined: the caller's own). */
  kms(region: string, account?: string | undefined): KmsPort;
  randomBytes(size: number): Buffer;
}

/** Results that are not problems. */
export function isAuditProblem(result: AuditResult): boolean {
  return result !== "identical" && result !== "not-comparable";
}

/** The HSM key a record names: what preflight found (label and id both), else the manifest's reference. */
function sourceRef(record: MigrationRecord): SourceKeyRef {
  return record.sourceKey
    ? { label: record.sourceKey.label, idHex: record.sourceKey.idHex }
    : { label: record.source.label, idHex: record.source.idHex };
}

function auditLine(record: MigrationRecord, result: AuditResult, detail: string, keySpec = ""): AuditLine {
  const ref = sourceRef(record);
  return {
    source_label: ref.label ?? "",
    source_id: ref.idHex ?? "",
    region: record.region,
    kms_key_id: record.kmsKeyId ?? "",
    key_spec: keySpec,
    result,
    detail,
    account: record.account ?? "",
  };
}

/** Compares one migrated key in the HSM and in KMS. */
async function auditKey(ports: AuditPorts, record: MigrationRecord): Promise<AuditLine> {
  const ref = sourceRef(record);
  const line = (result: AuditResult, detail: string, keySpec = "") =>
    auditLine(record, result, detail, keySpec);
  if (!record.kmsKeyId) return line("missing-in-kms", "the ledger names no KMS key for a migrated key");

  const kms = ports.kms(record.region, record.account);
  const kmsKey = await kms.describeKey(record.kmsKeyId);
  if (!kmsKey)
    return line(
      "missing-in-kms",
      `KMS has no key ${record.kmsKeyId} in ${record.account ? `account ${record.account}, ` : ""}${record.region}`,
    );
  const spec = kmsKey.keySpec ?? "";
  if (kmsKey.keyState !== "Enabled")
    return line("kms-key-not-enabled", `the KMS key is ${kmsKey.keyState}`, spec);
  if (kmsKey.origin !== "EXTERNAL")
    return line("mismatch", `the KMS key's origin is ${kmsKey.origin}, not EXTERNAL (imported)`, spec);
  if (!isKeySpec(spec)) return line("error", `KMS reports an unknown key spec "${spec}"`, spec);

  let hsmKey: Awaited<ReturnType<HsmPort["describeKey"]>>;
  try {
    hsmKey = await ports.hsm.describeKey(ref);
  } catch (error) {
    if (isMigrationError(error) && error.code === "SOURCE_KEY_NOT_FOUND")
      return line("missing-in-hsm", "the token holds no such key (deleted, or the ledger was changed)", spec);
    throw error;
  }

  if (spec === "SYMMETRIC_DEFAULT")
    return line(
      "not-comparable",
      "AES: KMS ciphertexts cannot be opened outside KMS; the migration's verify did a KMS round trip",
      spec,
    );
  const info = keySpecInfo(spec);
  if (info.macAlgorithm) {
    if (hsmKey.objectClass !== "secret")
      return line("mismatch", `an HMAC key in KMS, a ${hsmKey.keyType} key in the HSM`, spec);
    const message = ports.randomBytes(32);
    const [hsmMac, kmsMac] = await Promise.all([
      ports.hsm.hmac(ref, message, spec),
      kms.generateMac(record.kmsKeyId, message, info.macAlgorithm),
    ]);
    return hsmMac.equals(kmsMac)
      ? line(
          "identical",
          `KMS GenerateMac equals the HSM's HMAC of a random message (${info.macAlgorithm})`,
          spec,
        )
      : line("mismatch", `KMS GenerateMac differs from the HSM's HMAC (${info.macAlgorithm})`, spec);
  }
  if (!hsmKey.publicKeySpkiDer)
    return line(
      "mismatch",
      `an asymmetric key in KMS, a ${hsmKey.keyType} key without public key in the HSM`,
      spec,
    );
  const kmsSpki = await kms.getPublicKey(record.kmsKeyId);
  return kmsSpki.equals(hsmKey.publicKeySpkiDer)
    ? line("identical", "KMS GetPublicKey equals the HSM's public key", spec)
    : line("mismatch", "KMS GetPublicKey differs from the HSM's public key", spec);
}

export interface AuditSummary {
  audited: number;
  byResult: Partial<Record<AuditResult, number>>;
  notMigrated: number;
  problems: number;
}

/**
 * Audits every migrated key of the ledger against the HSM and KMS, `concurrency` keys at a time, yielding one
 * line per key in ledger order; keys not migrated are only counted. A KMS key named by two keys, or one HSM
 * key migrated twice into the same Region, is a `duplicate` (the later one). With a manifest's expectations,
 * every key it asks for that the ledger does not hold is a `not-in-ledger` line at the end, after its
 * rejected rows.
 */
export async function* auditMigration(
  records: AsyncIterable<MigrationRecord>,
  ports: AuditPorts,
  summary: AuditSummary,
  concurrency = 4,
  manifest?: ManifestExpectations,
): AsyncIterable<AuditLine> {
  const kmsKeys = new Map<string, string>();
  const hsmKeys = new Map<string, string>();
  const duplicateOf = (record: MigrationRecord): string | undefined => {
    const ref = sourceRef(record);
    // The same HSM key may go to the same Region of several accounts: each is its own KMS key.
    const kmsName = `${record.account ?? ""}/${record.region}/${record.kmsKeyId}`;
    const hsmName = `${record.account ?? ""}/${record.region}/${ref.label ?? ""}/${ref.idHex ?? ""}`;
    const earlier = (record.kmsKeyId && kmsKeys.get(kmsName)) || hsmKeys.get(hsmName);
    if (record.kmsKeyId && !kmsKeys.has(kmsName)) kmsKeys.set(kmsName, record.id);
    if (!hsmKeys.has(hsmName)) hsmKeys.set(hsmName, record.id);
    return earlier || undefined;
  };
  const run = async (record: MigrationRecord): Promise<AuditLine> => {
    try {
      return await auditKey(ports, record);
    } catch (error) {
      const detail = isMigrationError(error) ? `${error.code}: ${error.message}` : String(error);
      return auditLine(record, "error", detail);
    }
  };

  let batch: Array<Promise<AuditLine>> = [];
  const flush = async function* () {
    for (const line of await Promise.all(batch)) {
      summary.audited++;
      summary.byResult[line.result] = (summary.byResult[line.result] ?? 0) + 1;
      if (isAuditProblem(line.result)) summary.problems++;
      yield line;
    }
    batch = [];
  };
  for await (const record of records) {
    manifest?.expected.delete(record.id);
    if (record.status !== "migrated") {
      summary.notMigrated++;
      continue;
    }
    const earlier = duplicateOf(record);
    batch.push(
      earlier
        ? Promise.resolve(
            auditLine(record, "duplicate", `the same KMS key or HSM key as migration ${earlier}`),
          )
        : run(record),
    );
    if (batch.length >= concurrency) yield* flush();
  }
  if (manifest) {
    const missing = [...manifest.expected.values()].map(
      (key): AuditLine => ({
        source_label: key.label ?? "",
        source_id: key.idHex ?? "",
        region: key.region,
        kms_key_id: "",
        key_spec: "",
        result: "not-in-ledger",
        detail: `manifest line ${key.line}: no migration record under this prefix (never enqueued, or removed from Redis)`,
        account: key.account ?? "",
      }),
    );
    batch.push(...[...manifest.rejected, ...missing].map((line) => Promise.resolve(line)));
  }
  yield* flush();
}
