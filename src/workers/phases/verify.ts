import {
  constants,
  createHash,
  createPublicKey,
  diffieHellman,
  type KeyObject,
  publicEncrypt,
  verify as verifySignature,
} from "node:crypto";
import { newKeyPairSync } from "../../shared/crypto/key-pairs.js";
import { fatal, isMigrationError } from "../../shared/errors.js";
import { keySpecInfo } from "../../shared/key-specs.js";
import type { KmsPort } from "../../shared/kms/types.js";
import {
  describeSource,
  type MigrationRecord,
  type SourceKeyFacts,
  type VerificationCheck,
  type Verified,
} from "../../shared/migration.js";
import type { Phase, PhaseContext } from "./context.js";

type Checks = { verified: Verified; checks: VerificationCheck[] };

const pass = (name: string, extra: Partial<VerificationCheck> = {}): VerificationCheck => ({
  name,
  result: "pass",
  ...extra,
});
const fail = (name: string, detail: string, extra: Partial<VerificationCheck> = {}): VerificationCheck => ({
  name,
  result: "fail",
  detail,
  ...extra,
});
/** Missing evidence: nothing to compare KMS with. Never a mismatch, so never a reason to touch the key. */
const unproven = (name: string, detail: string): VerificationCheck => ({ name, result: "unproven", detail });

const NO_PUBLIC_KEY =
  "preflight found no public key for this key on the HSM token, so there is nothing to compare KMS with";

function hsmPublicKey(source: SourceKeyFacts): KeyObject | undefined {
  if (!source.publicKeySpkiB64) return undefined;
  return createPublicKey({
    key: Buffer.from(source.publicKeySpkiB64, "base64"),
    format: "der",
    type: "spki",
  });
}

const spkiSha256 = (spki: Buffer): string => createHash("sha256").update(spki).digest("hex");

async function publicKeyCheck(
  kms: KmsPort,
  keyId: string,
  source: SourceKeyFacts,
): Promise<VerificationCheck> {
  const name = "public-key-equal";
  if (!source.publicKeySpkiB64) return unproven(name, NO_PUBLIC_KEY);
  const hsmSpki = Buffer.from(source.publicKeySpkiB64, "base64");
  const kmsSpki = await kms.getPublicKey(keyId);
  return kmsSpki.equals(hsmSpki)
    ? pass(name)
    : fail(
        name,
        `KMS GetPublicKey (SPKI SHA-256 ${spkiSha256(kmsSpki)}) differs from the HSM public key (SPKI SHA-256 ${spkiSha256(hsmSpki)})`,
      );
}

async function signatureCheck(
  ctx: PhaseContext,
  kms: KmsPort,
  keyId: string,
  source: SourceKeyFacts,
): Promise<VerificationCheck> {
  const name = "kms-signature-verifies-with-hsm-public-key";
  const publicKey = hsmPublicKey(source);
  if (!publicKey) return unproven(name, NO_PUBLIC_KEY);
  const info = keySpecInfo(source.keySpec);
  const algorithm = info.signingAlgorithms?.[0] ?? "";
  const message = ctx.randomBytes(64);
  const signature = await kms.sign(keyId, message, algorithm);
  // KMS returns ECDSA signatures DER-encoded; node verifies DER by default.
  const ok = verifySignature(info.hash ?? "sha256", message, publicKey, signature);
  const evidence = {
    algorithm,
    messageB64: message.toString("base64"),
    signatureB64: signature.toString("base64"),
  };
  return ok
    ? pass(name, evidence)
    : fail(name, "the KMS signature of a random message does not verify with the HSM public key", evidence);
}

/**
 * Decrypt of a ciphertext made with the HSM public key. InvalidCiphertextException is a proof here: the AWS
 * KMS API Reference (Decrypt, InvalidCiphertextException) says it means the ciphertext is invalid for the key,
 * and a well-formed OAEP ciphertext under the HSM's public key is invalid only for another private key.
 */
async function decryptCheck(
  ctx: PhaseContext,
  kms: KmsPort,
  keyId: string,
  source: SourceKeyFacts,
): Promise<VerificationCheck> {
  const name = "kms-decrypts-hsm-public-key-ciphertext";
  const publicKey = hsmPublicKey(source);
  if (!publicKey) return unproven(name, NO_PUBLIC_KEY);
  const algorithm = "RSAES_OAEP_SHA_256";
  const secret = ctx.randomBytes(32);
  const ciphertext = publicEncrypt(
    { key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" },
    secret,
  );
  let plaintext: Buffer;
  try {
    plaintext = await kms.decrypt(keyId, ciphertext, algorithm);
  } catch (error) {
    if (isMigrationError(error) && error.details?.["awsError"] === "InvalidCiphertextException")
      return fail(
        name,
        "KMS Decrypt answered InvalidCiphertextException to a ciphertext made with the HSM public key",
        { algorithm },
      );
    throw error;
  }
  return plaintext.equals(secret)
    ? pass(name, { algorithm })
    : fail(name, "KMS decrypted a ciphertext made with the HSM public key to another plaintext", {
        algorithm,
      });
}

async function macCheck(
  kms: KmsPort,
  keyId: string,
  record: MigrationRecord,
  source: SourceKeyFacts,
): Promise<VerificationCheck> {
  const name = "kms-mac-equals-hsm-mac";
  const challenge = record.hsmChallenge;
  if (!challenge)
    return unproven(
      name,
      "no HSM MAC was recorded for this key (preflighted by an older hsm2kms): run `hsm2kms audit` on an HSM host to compare it",
    );
  const algorithm = keySpecInfo(source.keySpec).macAlgorithm ?? "";
  const evidence = { algorithm, messageB64: challenge.messageB64 };
  const mac = await kms.generateMac(keyId, Buffer.from(challenge.messageB64, "base64"), algorithm);
  // The MACs themselves stay out of the evidence: the ledger's HSM MAC is not published.
  return mac.toString("base64") === challenge.expectedB64
    ? pass(name, evidence)
    : fail(name, "KMS GenerateMac of the recorded message differs from the HSM's HMAC of it", evidence);
}

async function agreementCheck(
  kms: KmsPort,
  keyId: string,
  source: SourceKeyFacts,
): Promise<VerificationCheck> {
  const name = "kms-ecdh-equals-hsm-public-key-ecdh";
  const publicKey = hsmPublicKey(source);
  if (!publicKey) return unproven(name, NO_PUBLIC_KEY);
  const curve = keySpecInfo(source.keySpec).curve?.nodeName ?? "";
  // ECDH(peer, HSM public) must equal KMS's ECDH(KMS private, peer public): only the HSM's private key gives that.
  const peer = newKeyPairSync({ type: "ec", namedCurve: curve });
  const expected = diffieHellman({ privateKey: peer.privateKey, publicKey });
  const actual = await kms.deriveSharedSecret(keyId, peer.publicKey.export({ format: "der", type: "spki" }));
  return actual.equals(expected)
    ? pass(name)
    : fail(name, "KMS's ECDH shared secret with a random peer differs from the HSM public key's");
}

async function roundTripCheck(ctx: PhaseContext, kms: KmsPort, keyId: string): Promise<VerificationCheck> {
  const secret = ctx.randomBytes(32);
  const plaintext = await kms.decrypt(keyId, await kms.encrypt(keyId, secret));
  return plaintext.equals(secret)
    ? pass("kms-encrypt-decrypt-round-trip")
    : fail("kms-encrypt-decrypt-round-trip", "KMS decrypted its own ciphertext to another plaintext");
}

/**
 * The checks for the key's usage. Only a proof fails a check (a different value, or a KMS answer that proves
 * the material differs); every other KMS error propagates, so the scheduler retries or fails the key and
 * nothing is rolled back: NotFoundException or KMSInvalidStateException can be KMS's eventual consistency (the
 * AWS KMS Developer Guide, "AWS KMS eventual consistency"), AccessDenied a policy, and neither says anything
 * about the material.
 */
async function runChecks(
  ctx: PhaseContext,
  kms: KmsPort,
  keyId: string,
  record: MigrationRecord,
  source: SourceKeyFacts,
): Promise<Checks> {
  switch (source.keyUsage) {
    case "SIGN_VERIFY":
      return {
        verified: "true",
        checks: [await publicKeyCheck(kms, keyId, source), await signatureCheck(ctx, kms, keyId, source)],
      };
    case "ENCRYPT_DECRYPT":
      if (keySpecInfo(source.keySpec).family === "AES")
        return { verified: "roundtrip", checks: [await roundTripCheck(ctx, kms, keyId)] };
      return {
        verified: "true",
        checks: [await publicKeyCheck(kms, keyId, source), await decryptCheck(ctx, kms, keyId, source)],
      };
    case "GENERATE_VERIFY_MAC":
      return { verified: "true", checks: [await macCheck(kms, keyId, record, source)] };
    case "KEY_AGREEMENT":
      return {
        verified: "true",
        checks: [await publicKeyCheck(kms, keyId, source), await agreementCheck(kms, keyId, source)],
      };
  }
}

/** Deletes the imported material and schedules the key's deletion; a failure here is logged, not hidden. */
async function rollBack(ctx: PhaseContext, kms: KmsPort, keyId: string): Promise<string> {
  try {
    await kms.deleteImportedKeyMaterial(keyId);
    const date = await kms.scheduleKeyDeletion(keyId, ctx.settings.deletionWindowDays);
    return `its material was deleted and the key is scheduled for deletion on ${date?.toISOString() ?? "(unknown)"}`;
  } catch (error) {
    ctx.logger.error(
      { kmsKeyId: keyId, err: isMigrationError(error) ? error.code : String(error) },
      "rollback of a failed verification did not complete",
    );
    return `ROLLBACK DID NOT COMPLETE (${isMigrationError(error) ? error.message : String(error)}): delete its material and schedule its deletion by hand`;
  }
}

/**
 * Whether this migration put the KMS key's material there itself (it ran ImportKeyMaterial on it). A key create
 * adopted instead (imported by an earlier campaign, or before the ledger was lost) is not this migration's to
 * destroy, whatever verify finds.
 */
function importedByThisMigration(record: MigrationRecord): boolean {
  return record.importStartedAt !== undefined || record.importedAt !== undefined;
}

const describeChecks = (checks: VerificationCheck[]): string =>
  checks.map((check) => `${check.name}: ${check.detail ?? check.result}`).join("; ");

/**
 * verify (any host): prove that KMS now holds the HSM's key, by usage (see the README's phases). Missing
 * evidence is never a mismatch: the key ends `verified=unproven`, untouched. A proven mismatch fails the key
 * with the evidence; only when this migration imported the material itself is the KMS key also rolled back
 * (DeleteImportedKeyMaterial, ScheduleKeyDeletion).
 */
export const verify: Phase = async (ctx, record) => {
  const who = describeSource(record.source);
  const source = record.sourceKey;
  const keyId = record.kmsKeyId;
  if (!keyId || !source) throw fatal("PHASE_ORDER", `${who}: verify ran before import`);
  const kms = ctx.kms(record.region, record.account);
  const result = await runChecks(ctx, kms, keyId, record, source);
  const failed = result.checks.filter((check) => check.result === "fail");
  const missing = result.checks.filter((check) => check.result === "unproven");
  const log = { migrationId: record.id, kmsKeyId: keyId, region: record.region, checks: result.checks };

  if (failed.length === 0 && missing.length > 0) {
    ctx.logger.warn(log, `${who}: KMS key ${keyId} left as it is, unproven: ${describeChecks(missing)}`);
    return { patch: { verified: "unproven", checks: result.checks }, next: "done" };
  }
  if (failed.length === 0)
    return { patch: { verified: result.verified, checks: result.checks }, next: "done" };

  const evidence = describeChecks(failed);
  if (!importedByThisMigration(record)) {
    ctx.logger.error(log, `${who}: adopted KMS key ${keyId} is not the HSM key; nothing changed in KMS`);
    await ctx.checkpoint({ verified: "false", checks: result.checks, rolledBack: false });
    throw fatal(
      "ADOPTED_KEY_MISMATCH",
      `${who}: KMS key ${keyId}, found through its alias or provenance tag but not imported by this migration, is not the HSM key (${evidence}); nothing was changed in KMS: find out which material it holds before anything uses it, then point the alias elsewhere or delete it and re-enqueue the key`,
      { details: { checks: result.checks } },
    );
  }
  ctx.logger.error(log, `${who}: KMS key ${keyId} is not the HSM key this migration imported: rolling back`);
  const rollback = await rollBack(ctx, kms, keyId);
  await ctx.checkpoint({ verified: "false", checks: result.checks, rolledBack: true });
  throw fatal(
    "VERIFICATION_FAILED",
    `${who}: KMS key ${keyId} is not the HSM key (${evidence}); ${rollback}`,
    { details: { checks: result.checks } },
  );
};
