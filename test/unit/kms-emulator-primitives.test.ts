import { constants, createHash, verify } from "node:crypto";
import { describe, expect, it } from "vitest";
import { newKeyPairSync } from "../../src/shared/crypto/key-pairs.js";
import { KmsError } from "../../src/testkit/kms-emulator/errors.js";
import { ImportTokenCodec } from "../../src/testkit/kms-emulator/import-token.js";
import {
  signEcdsaDigest,
  signPssDigest,
  verifyEcdsaDigest,
} from "../../src/testkit/kms-emulator/prehashed.js";
import { QuotaBuckets } from "../../src/testkit/kms-emulator/quotas.js";

describe("QuotaBuckets", () => {
  it("allows a one-second burst, then refills continuously, per Region and operation", () => {
    let now = 0;
    const buckets = new QuotaBuckets({ CreateKey: 5 }, () => now);
    const burst = Array.from({ length: 6 }, () => buckets.take("us-east-1", "CreateKey"));
    expect(burst).toEqual([true, true, true, true, true, false]);
    expect(buckets.take("eu-west-1", "CreateKey")).toBe(true);
    expect(buckets.take("us-east-1", "DescribeKey")).toBe(true);
    now = 199;
    expect(buckets.take("us-east-1", "CreateKey")).toBe(false);
    now = 401;
    expect(buckets.take("us-east-1", "CreateKey")).toBe(true);
    now = 10_000;
    expect(
      Array.from({ length: 6 }, () => buckets.take("us-east-1", "CreateKey")).filter(Boolean),
    ).toHaveLength(5);
  });
});

describe("ImportTokenCodec", () => {
  const claims = {
    tokenId: "t",
    region: "us-east-1",
    keyId: "k",
    wrappingAlgorithm: "RSAES_OAEP_SHA_256",
    wrappingKeySpec: "RSA_2048",
    wrappingKeySha256: "ab".repeat(32),
    expiresAt: 1,
  };

  it("is opaque: neither the key ID, the algorithm nor any JSON shows in the bytes", () => {
    const token = new ImportTokenCodec().encode({ ...claims, keyId: "1234abcd-key-id" });
    const text = token.toString("latin1");
    for (const visible of ["1234abcd-key-id", "RSAES_OAEP_SHA_256", "us-east-1", "tokenId", "expiresAt"])
      expect(text).not.toContain(visible);
    const again = new ImportTokenCodec().encode({ ...claims, keyId: "1234abcd-key-id" });
    expect(again.equals(token)).toBe(false);
  });

  it("round-trips its own tokens and refuses tampered or foreign ones", () => {
    const codec = new ImportTokenCodec();
    const token = codec.encode(claims);
    expect(codec.decode(token)).toEqual(claims);
    const tampered = Buffer.from(token);
    tampered[10]! ^= 1;
    const refused = (bytes: Buffer) => {
      try {
        codec.decode(bytes);
      } catch (error) {
        return (error as KmsError).type;
      }
      return "accepted";
    };
    expect(refused(tampered)).toBe("InvalidImportTokenException");
    expect(refused(new ImportTokenCodec().encode(claims))).toBe("InvalidImportTokenException");
    expect(refused(Buffer.alloc(3))).toBe("InvalidImportTokenException");
  });
});

describe("signatures over a caller's digest", () => {
  it.each(["prime256v1", "secp384r1", "secp521r1", "secp256k1"])(
    "ECDSA on %s verifies with node",
    (namedCurve) => {
      const { privateKey, publicKey } = newKeyPairSync({ type: "ec", namedCurve });
      const hash = namedCurve === "secp384r1" ? "sha384" : namedCurve === "secp521r1" ? "sha512" : "sha256";
      const message = Buffer.from("digest me");
      const digest = createHash(hash).update(message).digest();
      expect(
        verify(hash, message, { key: publicKey, dsaEncoding: "der" }, signEcdsaDigest(privateKey, digest)),
      ).toBe(true);
      const nodeSignature = newKeyPairSync({ type: "ec", namedCurve }).privateKey;
      expect(verifyEcdsaDigest(privateKey, digest, signEcdsaDigest(nodeSignature, digest))).toBe(false);
    },
  );

  it("RSASSA-PSS with salt = digest length verifies with node", () => {
    const { privateKey, publicKey } = newKeyPairSync({ type: "rsa", modulusLength: 2048 });
    const digest = createHash("sha512").update("m").digest();
    const signature = signPssDigest(privateKey, "sha512", digest);
    expect(
      verify(
        "sha512",
        Buffer.from("m"),
        { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 64 },
        signature,
      ),
    ).toBe(true);
  });
});

it("KmsError keeps the AWS name and status", () => {
  const error = new KmsError("ThrottlingException", "Rate exceeded");
  expect([error.type, error.status, error.name]).toEqual(["ThrottlingException", 400, "KmsError"]);
});
