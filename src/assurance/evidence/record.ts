import type { MigrationRecord } from "../../shared/migration.js";
import { accountOfArn } from "../../shared/targets.js";
import { sha256Hex } from "./signatures.js";
import {
  type EvidenceRecord,
  type NotMigratedEntry,
  type OperatorIdentity,
  RECORD_FORMAT,
  RECORDS_FOLDER,
} from "./types.js";

/** What a migration id looks like (`k` + 40 hex digits); anything else is hashed before it names a file. */
const SAFE_ID = /^[A-Za-z0-9_-]{1,100}$/;

/**
 * The record file of a migration, relative to the pack: `records/<migration id>.json`. Only the id names the
 * file, never a label, so no key can write outside `records/`; an id that is not a plain token is hashed.
 */
export function recordFileName(migrationId: string): string {
  const name = SAFE_ID.test(migrationId) ? migrationId : `id-${sha256Hex(migrationId).slice(0, 40)}`;
  return `${RECORDS_FOLDER}/${name}.json`;
}

/** The label a key is known by in messages and the manifest. */
export function sourceLabelOf(record: MigrationRecord): string {
  return record.sourceKey?.label ?? record.source.label ?? record.source.idHex ?? "";
}

/**
 * The evidence of one migrated key, built field by field from the ledger record so that nothing else in it
 * (import parameters, wrapped material, the HSM's MAC challenge) can reach a pack. Undefined when the record
 * lacks what a migrated key must have.
 */
export function evidenceRecord(
  record: MigrationRecord,
  operator: OperatorIdentity,
): EvidenceRecord | undefined {
  const source = record.sourceKey;
  if (record.status !== "migrated" || !source || !record.kmsKeyId || !record.kmsKeyArn) return undefined;
  const spki = source.publicKeySpkiB64;
  return {
    format: RECORD_FORMAT,
    migrationId: record.id,
    source: {
      label: source.label,
      idHex: source.idHex,
      keyType: source.keyType,
      objectClass: source.objectClass,
      manifestLine: record.manifestLine,
      spkiSha256: spki ? sha256Hex(Buffer.from(spki, "base64")) : undefined,
      publicKeySpkiB64: spki,
      fingerprint: source.fingerprint,
    },
    kms: {
      keyArn: record.kmsKeyArn,
      keyId: record.kmsKeyId,
      // The ARN names the account the key is in (arn:aws:kms:<region>:<account>:key/<id>).
      account: record.account ?? accountOfArn(record.kmsKeyArn) ?? "",
      region: record.region,
      keySpec: source.keySpec,
      keyUsage: source.keyUsage,
      alias: record.request.alias,
      multiRegion: record.request.multiRegion,
      replicaOf: record.replicaOf,
    },
    wrapping: { algorithm: record.wrapPlan?.wrappingAlgorithm, hsmPath: record.wrapPlan?.hsmPath },
    verification: {
      verified: record.verified ?? "false",
      checks: (record.checks ?? []).map((check) => ({
        name: check.name,
        result: check.result,
        detail: check.detail,
        algorithm: check.algorithm,
        messageB64: check.messageB64,
        signatureB64: check.signatureB64,
      })),
    },
    timestamps: {
      created: record.createdAt,
      createStarted: record.createStartedAt,
      importStarted: record.importStartedAt,
      imported: record.importedAt,
      verified: record.completedAt,
      updated: record.updatedAt,
    },
    attempts: record.attempts,
    tokenRefreshes: record.tokenRefreshes,
    operator,
  };
}

/** How the manifest lists a key that has no record. */
export function notMigratedEntry(record: MigrationRecord, why?: string): NotMigratedEntry {
  return {
    migrationId: record.id,
    sourceLabel: record.sourceKey?.label ?? record.source.label,
    sourceIdHex: record.sourceKey?.idHex ?? record.source.idHex,
    account: record.account,
    region: record.region,
    status: record.status,
    error: record.error
      ? { code: record.error.code, message: record.error.message }
      : why
        ? { code: "INCOMPLETE_RECORD", message: why }
        : undefined,
  };
}
