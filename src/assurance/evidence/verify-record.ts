import { createPublicKey, type KeyObject } from "node:crypto";
import type { VerificationCheck } from "../../shared/migration.js";
import { schemeOf, sha256Hex, verifyKmsSignature } from "./signatures.js";
import { type EvidenceRecord, type ManifestEntry, RECORD_FORMAT } from "./types.js";

/** The check whose KMS signature anyone can verify again with the source key's public key. */
export const SIGNATURE_CHECK = "kms-signature-verifies-with-hsm-public-key";

function sourcePublicKey(record: EvidenceRecord, who: string, problems: string[]): KeyObject | undefined {
  const spkiB64 = record.source?.publicKeySpkiB64;
  if (!spkiB64) return undefined;
  const spki = Buffer.from(spkiB64, "base64");
  if (record.source.spkiSha256 !== sha256Hex(spki))
    problems.push(`${who}: source spkiSha256 is not the SHA-256 of the source public key it holds`);
  try {
    return createPublicKey({ key: spki, format: "der", type: "spki" });
  } catch {
    problems.push(`${who}: the source public key is not a DER SubjectPublicKeyInfo`);
    return undefined;
  }
}

/** Verifies a record's KMS signature check again, offline; true when it did (and it verified). */
function reverifySignatureCheck(
  check: VerificationCheck,
  publicKey: KeyObject | undefined,
  who: string,
  problems: string[],
): boolean {
  if (
    !check.messageB64 ||
    !check.signatureB64 ||
    !check.algorithm ||
    !publicKey ||
    !schemeOf(check.algorithm)
  )
    return false;
  const ok = verifyKmsSignature(
    check.algorithm,
    Buffer.from(check.messageB64, "base64"),
    publicKey,
    Buffer.from(check.signatureB64, "base64"),
  );
  if (!ok)
    problems.push(
      `${who}: check ${SIGNATURE_CHECK}: the KMS signature does not verify with the source (HSM) public key`,
    );
  return ok;
}

/**
 * Checks one record file's content: its format, that it is the record the manifest says, that every
 * verification check passed, and (offline) the KMS signature of its signature check. Problems are appended;
 * returns how many signature checks were verified again.
 */
export function verifyRecordContent(
  bytes: Buffer,
  entry: ManifestEntry,
  who: string,
  problems: string[],
): number {
  let record: EvidenceRecord;
  try {
    record = JSON.parse(bytes.toString("utf8")) as EvidenceRecord;
  } catch {
    problems.push(`${who}: not valid JSON`);
    return 0;
  }
  if (record?.format !== RECORD_FORMAT) {
    problems.push(`${who}: not an ${RECORD_FORMAT} record`);
    return 0;
  }
  if (record.migrationId !== entry.migrationId)
    problems.push(
      `${who}: holds migration ${JSON.stringify(record.migrationId)}, the manifest says ${entry.migrationId}`,
    );
  const checks = Array.isArray(record.verification?.checks) ? record.verification.checks : [];
  if (checks.length === 0) problems.push(`${who}: no verification checks`);
  for (const check of checks)
    if (check.result !== "pass")
      problems.push(
        `${who}: check ${check.name} did not pass (${check.result}${check.detail ? `: ${check.detail}` : ""})`,
      );
  const publicKey = sourcePublicKey(record, who, problems);
  let reverified = 0;
  for (const check of checks)
    if (check.name === SIGNATURE_CHECK && reverifySignatureCheck(check, publicKey, who, problems))
      reverified++;
  return reverified;
}
