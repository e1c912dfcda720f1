import {
  constants,
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

function hsmPublicKey(source: SourceKeyFacts): KeyObject {
  if (!source.publicKeySpkiB64)
    throw fatal("NO_PUBLIC_KEY", "preflight recorded no public key for an asymmetric key");
  return createPublicKey({
    key: Buffer.from(source.publicKeySpkiB64, "base64"),
    format: "der",
    type: "spki",
  });
}

async function publicKeyCheck(
  kms: KmsPort,
  keyId: string,
  source: SourceKeyFacts,
): Promise<VerificationCheck> {
  const kmsSpki = await kms.getPublicKey(keyId);
  return kmsSpki.toString("base64") === source.publicKeySpkiB64
    ? pass("public-key-equal")
    : fail("public-key-equal", "KMS GetPublicKey differs from the HSM public key");
}

async function signatureCheck(
  ctx: PhaseContext,
  kms: KmsPort,
  keyId: string,
  source: SourceKeyFacts,
): Promise<VerificationCheck> {
  const info = keySpecInfo(source.keySpec);
  const algorithm = info.signingAlgorithms?.[0] ?? "";
  const message = ctx.randomBytes(64);
  const signature = await kms.sign(keyId, message, algorithm);
  // KMS returns ECDSA signatures DER-encoded; node verifies DER by default.
  const ok = verifySignature(info.hash ?? "sha256", message, hsmPublicKey(source), signature);
  const evidence = {
    algorithm,
    messageB64: message.toString("base64"),
    signatureB64: signature.toString("base64"),
  };
  return ok
    ? pass("kms-signature-verifies-with-hsm-public-key", evidence)
    : fail("kms-signature-verifies-with-hsm-public-key", "signature did not verify", evidence);
}

async function decryptCheck(
  ctx: PhaseContext,
  kms: KmsPort,
  keyId: string,
  source: SourceKeyFacts,
): Promise<VerificationCheck> {
  const secret = ctx.randomBytes(32);
  const ciphertext = publicEncrypt(
    { key: hsmPublicKey(source), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" },
    secret,
  );
  const plaintext = await kms.decrypt(keyId, ciphertext, "RSAES_OAEP_SHA_256");
  return plaintext.equals(secret)
    ? pass("kms-decrypts-hsm-public-key-ciphertext", { algorithm: "RSAES_OAEP_SHA_256" })
    : fail("kms-decrypts-hsm-public-key-ciphertext", "plaintext differs");
}

async function macCheck(
  kms: KmsPort,
  keyId: string,
  record: MigrationRecord,
  source: SourceKeyFacts,
): Promise<VerificationCheck> {
  const challenge = record.hsmChallenge;
  if (!challenge) throw fatal("NO_HSM_CHALLENGE", "the wrap phase recorded no HSM MAC to compare with");
  const algorithm = keySpecInfo(source.keySpec).macAlgorithm ?? "";
  const mac = await kms.generateMac(keyId, Buffer.from(challenge.messageB64, "base64"), algorithm);
  return mac.toString("base64") === challenge.expectedB64
    ? pass("kms-mac-equals-hsm-mac", { algorithm, messageB64: challenge.messageB64 })
    : fail("kms-mac-equals-hsm-mac", "KMS GenerateMac differs from the HSM's HMAC", {
        algorithm,
        messageB64: challenge.messageB64,
      });
}

async function agreementCheck(
  kms: KmsPort,
  keyId: string,
  source: SourceKeyFacts,
): Promise<VerificationCheck> {
  const curve = keySpecInfo(source.keySpec).curve?.nodeName ?? "";
  // ECDH(peer, HSM public) must equal KMS's ECDH(KMS private, peer public): only the HSM's private key gives that.
  const peer = newKeyPairSync({ type: "ec", namedCurve: curve });
  const expected = diffieHellman({ privateKey: peer.privateKey, publicKey: hsmPublicKey(source) });
  const actual = await kms.deriveSharedSecret(keyId, peer.publicKey.export({ format: "der", type: "spki" }));
  return actual.equals(expected)
    ? pass("kms-ecdh-equals-hsm-public-key-ecdh")
    : fail("kms-ecdh-equals-hsm-public-key-ecdh", "shared secrets differ");
}

async function roundTripCheck(ctx: PhaseContext, kms: KmsPort, keyId: string): Promise<VerificationCheck> {
  const secret = ctx.randomBytes(32);
  const plaintext = await kms.decrypt(keyId, await kms.encrypt(keyId, secret));
  return plaintext.equals(secret)
    ? pass("kms-encrypt-decrypt-round-trip")
    : fail("kms-encrypt-decrypt-round-trip", "plaintext differs");
}

/** A check whose KMS call fails for good (e.g. InvalidCiphertextException on Decrypt) is a failed check. */
async function guarded(name: string, check: () => Promise<VerificationCheck>): Promise<VerificationCheck> {
  try {
    return await check();
  } catch (error) {
    if (isMigrationError(error) && error.kind === "fatal") return fail(name, `KMS refused: ${error.message}`);
    throw error;
  }
}

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
        checks: [
          await publicKeyCheck(kms, keyId, source),
          await guarded("kms-signature-verifies-with-hsm-public-key", () =>
            signatureCheck(ctx, kms, keyId, source),
          ),
        ],
      };
    case "ENCRYPT_DECRYPT":
      if (keySpecInfo(source.keySpec).family === "AES")
        return {
          verified: "roundtrip",
          checks: [await guarded("kms-encrypt-decrypt-round-trip", () => roundTripCheck(ctx, kms, keyId))],
        };
      return {
        verified: "true",
        checks: [
          await publicKeyCheck(kms, keyId, source),
          await guarded("kms-decrypts-hsm-public-key-ciphertext", () =>
            decryptCheck(ctx, kms, keyId, source),
          ),
        ],
      };
    case "GENERATE_VERIFY_MAC":
      return {
        verified: "true",
        checks: [await guarded("kms-mac-equals-hsm-mac", () => macCheck(kms, keyId, record, source))],
      };
    case "KEY_AGREEMENT":
      return {
        verified: "true",
        checks: [
          await publicKeyCheck(kms, keyId, source),
          await guarded("kms-ecdh-equals-hsm-public-key-ecdh", () => agreementCheck(kms, keyId, source)),
        ],
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
 * verify (any host): prove that KMS now holds the HSM's key, by usage (docs/architecture.md#verification).
 * On any mismatch the KMS key is rolled back (DeleteImportedKeyMaterial, ScheduleKeyDeletion) and the key
 * fails with the evidence.
 */
export const verify: Phase = async (ctx, record) => {
  const who = describeSource(record.source);
  const source = record.sourceKey;
  if (!record.kmsKeyId || !source) throw fatal("PHASE_ORDER", `${who}: verify ran before import`);
  const kms = ctx.kms(record.region);
  const result = await runChecks(ctx, kms, record.kmsKeyId, record, source);
  const failed = result.checks.filter((check) => check.result === "fail");
  if (failed.length === 0)
    return { patch: { verified: result.verified, checks: result.checks }, next: "done" };

  const rollback = await rollBack(ctx, kms, record.kmsKeyId);
  await ctx.checkpoint({ verified: "false", checks: result.checks, rolledBack: true });
  throw fatal(
    "VERIFICATION_FAILED",
    `${who}: KMS key ${record.kmsKeyId} is not the HSM key (${failed.map((check) => `${check.name}: ${check.detail}`).join("; ")}); ${rollback}`,
    { details: { checks: result.checks } },
  );
};
