import { createHash, sign } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { evidenceRecord, recordFileName } from "../../src/assurance/evidence/record.js";
import {
  packSigningAlgorithm,
  schemeOf,
  verifyKmsSignature,
} from "../../src/assurance/evidence/signatures.js";
import { type PackSigner, regionOfKeyArn } from "../../src/assurance/evidence/signer.js";
import type { OperatorIdentity } from "../../src/assurance/evidence/types.js";
import { verifyEvidencePack } from "../../src/assurance/evidence/verify-pack.js";
import { writeEvidencePack } from "../../src/assurance/evidence/write-pack.js";
import { newKeyPairSync } from "../../src/shared/crypto/key-pairs.js";
import { type MigrationRecord, newMigrationRecord } from "../../src/shared/migration.js";

const operator: OperatorIdentity = { source: "unavailable", reason: "test", localUser: "auditor" };

function migratedRecord(): MigrationRecord {
  const { publicKey } = newKeyPairSync({ type: "ec", namedCurve: "prime256v1" });
  const spki = publicKey.export({ format: "der", type: "spki" });
  return {
    ...newMigrationRecord(
      "k0123456789abcdef0123456789abcdef01234567",
      "eu-west-1",
      { label: "../../etc/passwd" },
      { tags: {}, multiRegion: false },
      new Date("2026-01-01T00:00:00Z"),
      2,
    ),
    status: "migrated",
    phase: "done",
    sourceKey: {
      label: "../../etc/passwd",
      idHex: "01",
      keyType: "EC",
      objectClass: "private",
      keySpec: "ECC_NIST_P256",
      keyUsage: "SIGN_VERIFY",
      fingerprint: `sha256:${createHash("sha256").update(spki).digest("hex")}`,
      publicKeySpkiB64: spki.toString("base64"),
    },
    kmsKeyId: "1234abcd-12ab-34cd-56ef-1234567890ab",
    kmsKeyArn: "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    // Secrets that must never reach a pack, even if a record still held them.
    importParams: {
      wrappingAlgorithm: "RSA_AES_KEY_WRAP_SHA_256",
      wrappingKeySpec: "RSA_4096",
      wrappingPublicKeyB64: "AAAA",
      importTokenB64: "SECRET-IMPORT-TOKEN",
      validTo: "2026-01-02T00:00:00Z",
      fetchedAt: "2026-01-01T00:00:00Z",
    },
    wrappedMaterialB64: "SECRET-WRAPPED-MATERIAL",
    hsmChallenge: { kind: "hmac", messageB64: "bQ==", expectedB64: "SECRET-MAC" },
    checks: [{ name: "public-key-equal", result: "pass" }],
    verified: "true",
  };
}

describe("evidence records", () => {
  it("are named by migration id only: a label cannot choose the path; an odd id is hashed", () => {
    expect(recordFileName("k0123456789abcdef0123456789abcdef01234567")).toBe(
      "records/k0123456789abcdef0123456789abcdef01234567.json",
    );
    expect(recordFileName("../../etc/passwd")).toMatch(/^records\/id-[0-9a-f]{40}\.json$/);
    expect(recordFileName("a/b")).not.toContain("a/b");
  });

  it("carry the SPKI's SHA-256 and nothing secret the ledger record might hold", () => {
    const record = migratedRecord();
    const evidence = evidenceRecord(record, operator);
    expect(evidence?.source.spkiSha256).toBe(record.sourceKey?.fingerprint.replace("sha256:", ""));
    expect(evidence?.kms).toMatchObject({ region: "eu-west-1", keySpec: "ECC_NIST_P256" });
    expect(evidence?.operator).toEqual(operator);
    const text = JSON.stringify(evidence);
    expect(text).not.toContain("SECRET");
    expect(evidenceRecord({ ...record, status: "failed" }, operator)).toBeUndefined();
  });
});

describe("pack signatures", () => {
  it("choose the algorithm from the signing key's spec", () => {
    expect(packSigningAlgorithm("ECC_NIST_P256")).toBe("ECDSA_SHA_256");
    expect(packSigningAlgorithm("ECC_NIST_P384")).toBe("ECDSA_SHA_384");
    expect(packSigningAlgorithm("ECC_NIST_P521")).toBe("ECDSA_SHA_512");
    expect(packSigningAlgorithm("RSA_3072")).toBe("RSASSA_PSS_SHA_256");
    expect(packSigningAlgorithm("HMAC_256")).toBeUndefined();
    expect(packSigningAlgorithm(undefined)).toBeUndefined();
  });

  it("verify KMS-style signatures (DER ECDSA, RSA PSS with a digest-long salt, PKCS#1 v1.5) and nothing else", () => {
    const message = Buffer.from("manifest");
    const ec = newKeyPairSync({ type: "ec", namedCurve: "prime256v1" });
    expect(
      verifyKmsSignature("ECDSA_SHA_256", message, ec.publicKey, sign("sha256", message, ec.privateKey)),
    ).toBe(true);
    const rsa = newKeyPairSync({ type: "rsa", modulusLength: 2048 });
    const pss = sign("sha256", message, {
      key: rsa.privateKey,
      padding: schemeOf("RSASSA_PSS_SHA_256")?.padding,
      saltLength: 32,
    });
    expect(verifyKmsSignature("RSASSA_PSS_SHA_256", message, rsa.publicKey, pss)).toBe(true);
    expect(verifyKmsSignature("RSASSA_PKCS1_V1_5_SHA_256", message, rsa.publicKey, pss)).toBe(false);
    const pkcs1 = sign("sha384", message, rsa.privateKey);
    expect(verifyKmsSignature("RSASSA_PKCS1_V1_5_SHA_384", message, rsa.publicKey, pkcs1)).toBe(true);
    expect(verifyKmsSignature("RSASSA_PKCS1_V1_5_SHA_384", Buffer.from("other"), rsa.publicKey, pkcs1)).toBe(
      false,
    );
    expect(verifyKmsSignature("ECDSA_SHA_256", message, rsa.publicKey, pkcs1)).toBe(false);
    expect(verifyKmsSignature("SM2DSA", message, ec.publicKey, Buffer.alloc(8))).toBe(false);
  });

  it("read the Region of a key ARN, not of a key id or alias name", () => {
    expect(regionOfKeyArn("arn:aws:kms:eu-west-1:111122223333:key/abc")).toBe("eu-west-1");
    expect(regionOfKeyArn("arn:aws:kms:us-east-2:111122223333:alias/signer")).toBe("us-east-2");
    expect(regionOfKeyArn("alias/signer")).toBeUndefined();
    expect(regionOfKeyArn("1234abcd-12ab-34cd-56ef-1234567890ab")).toBeUndefined();
  });
});

describe("writing a pack", () => {
  async function* ledger(records: MigrationRecord[]) {
    yield* records;
  }

  it("appears only when complete: a signing failure leaves neither the pack nor its staging folder", async () => {
    const parent = await mkdtemp(join(tmpdir(), "hsm2kms-evidence-"));
    try {
      const ec = newKeyPairSync({ type: "ec", namedCurve: "prime256v1" });
      const failing: PackSigner = {
        keyArn: "arn:aws:kms:eu-west-1:111122223333:key/x",
        algorithm: "ECDSA_SHA_256",
        publicKeySpki: ec.publicKey.export({ format: "der", type: "spki" }),
        publicKey: ec.publicKey,
        signDigest: async () => {
          throw new Error("KMS is down");
        },
      };
      const options = { records: ledger([migratedRecord()]), operator, campaign: "c", toolVersion: "t" };
      await expect(
        writeEvidencePack({ ...options, dir: join(parent, "pack"), signer: failing }),
      ).rejects.toThrow("KMS is down");
      expect(await readdir(parent)).toEqual([]);

      // A signature the key's public key does not verify is caught before the pack is published.
      const wrong: PackSigner = { ...failing, signDigest: async () => Buffer.from("not a signature") };
      await expect(
        writeEvidencePack({
          ...options,
          records: ledger([migratedRecord()]),
          dir: join(parent, "pack"),
          signer: wrong,
        }),
      ).rejects.toThrow("returned a signature its public key does not verify");
      expect(await readdir(parent)).toEqual([]);

      await writeEvidencePack({ ...options, records: ledger([migratedRecord()]), dir: join(parent, "pack") });
      expect(await readdir(parent)).toEqual(["pack"]);
      expect((await verifyEvidencePack(join(parent, "pack"))).problems).toEqual([]);
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  });
});
