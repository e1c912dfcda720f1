import { createPrivateKey, randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { newKeyPairSync } from "../../src/shared/crypto/key-pairs.js";
import { UnwrapError, unwrapKeyMaterial } from "../../src/shared/crypto/kms-wrap.js";
import { isWrappingAlgorithm, WRAPPING_ALGORITHMS } from "../../src/shared/key-specs.js";
import { wrapKeyMaterial } from "../../src/testkit/wrap-key-material.js";

const VECTOR_DIR = join(import.meta.dirname, "../fixtures/kms-import");

interface Vector {
  keySpec: string;
  wrappingAlgorithm: string;
  wrappingKeySpec: string;
  wrappingPrivateKeyPem: string;
  wrappingPublicKeyDerBase64: string;
  plaintextMaterialBase64: string;
  encryptedKeyMaterialBase64: string;
}

const vectors = readdirSync(VECTOR_DIR)
  .filter((name) => name.endsWith(".json"))
  .map((name) => ({ name, vector: JSON.parse(readFileSync(join(VECTOR_DIR, name), "utf8")) as Vector }));

describe("KMS import vectors (made with AWS's documented openssl commands)", () => {
  it("has all ten vectors", () => expect(vectors.length).toBe(10));

  for (const { name, vector } of vectors) {
    it(`${name}: decrypts to the documented material`, () => {
      if (!isWrappingAlgorithm(vector.wrappingAlgorithm))
        throw new Error(`unknown ${vector.wrappingAlgorithm}`);
      const privateKey = createPrivateKey(vector.wrappingPrivateKeyPem);
      const material = unwrapKeyMaterial(
        vector.wrappingAlgorithm,
        privateKey,
        Buffer.from(vector.encryptedKeyMaterialBase64, "base64"),
      );
      expect(material.equals(Buffer.from(vector.plaintextMaterialBase64, "base64"))).toBe(true);
    });

    it(`${name}: our wrap decrypts to the same material`, () => {
      if (!isWrappingAlgorithm(vector.wrappingAlgorithm))
        throw new Error(`unknown ${vector.wrappingAlgorithm}`);
      const plaintext = Buffer.from(vector.plaintextMaterialBase64, "base64");
      const ciphertext = wrapKeyMaterial(
        vector.wrappingAlgorithm,
        Buffer.from(vector.wrappingPublicKeyDerBase64, "base64"),
        plaintext,
      );
      const privateKey = createPrivateKey(vector.wrappingPrivateKeyPem);
      expect(unwrapKeyMaterial(vector.wrappingAlgorithm, privateKey, ciphertext).equals(plaintext)).toBe(
        true,
      );
      // Same length as openssl's output: OAEP block, plus the KWP block for RSA_AES_KEY_WRAP.
      expect(ciphertext.length).toBe(Buffer.from(vector.encryptedKeyMaterialBase64, "base64").length);
    });
  }
});

describe("unwrapKeyMaterial failures", () => {
  const { publicKey, privateKey } = newKeyPairSync({ type: "rsa", modulusLength: 2048 });
  const spki = publicKey.export({ format: "der", type: "spki" });

  it.each(WRAPPING_ALGORITHMS)("%s: wrong hash is an UnwrapError", (algorithm) => {
    const other = algorithm.endsWith("SHA_256")
      ? algorithm.replace("SHA_256", "SHA_1")
      : algorithm.replace("SHA_1", "SHA_256");
    const ciphertext = wrapKeyMaterial(algorithm, spki, randomBytes(32));
    expect(() => unwrapKeyMaterial(other as typeof algorithm, privateKey, ciphertext)).toThrow(UnwrapError);
  });

  it("a corrupted KWP block is an UnwrapError", () => {
    const ciphertext = wrapKeyMaterial("RSA_AES_KEY_WRAP_SHA_256", spki, randomBytes(121));
    ciphertext[ciphertext.length - 3]! ^= 0xff;
    expect(() => unwrapKeyMaterial("RSA_AES_KEY_WRAP_SHA_256", privateKey, ciphertext)).toThrow(/integrity/);
  });

  it("a truncated ciphertext is an UnwrapError", () => {
    expect(() => unwrapKeyMaterial("RSAES_OAEP_SHA_256", privateKey, randomBytes(100))).toThrow(
      /expected 256/,
    );
  });
});
