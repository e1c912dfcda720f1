import { createPrivateKey, generateKeyPairSync, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { newKeyPairSync } from "../../src/shared/crypto/key-pairs.js";
import { derElement } from "../../src/shared/der.js";
import { KmsError } from "../../src/testkit/kms-emulator/errors.js";
import { validateKeyMaterial } from "../../src/testkit/kms-emulator/material.js";
import { threePrimeRsaPkcs8 } from "../integration/kms-emulator-fixtures.js";

const VECTORS = join(import.meta.dirname, "../fixtures/kms-import");
const vectorMaterial = (name: string) =>
  Buffer.from(JSON.parse(readFileSync(join(VECTORS, name), "utf8")).plaintextMaterialBase64, "base64");

const ecPkcs8 = (namedCurve: string) =>
  newKeyPairSync({ type: "ec", namedCurve }).privateKey.export({ format: "der", type: "pkcs8" });
const p256 = ecPkcs8("prime256v1");
const rsa2048 = newKeyPairSync({ type: "rsa", modulusLength: 2048 }).privateKey.export({
  format: "der",
  type: "pkcs8",
});

function rejection(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(KmsError);
    expect((error as KmsError).type).toBe("IncorrectKeyMaterialException");
    return (error as KmsError).message;
  }
  throw new Error("expected IncorrectKeyMaterialException");
}

describe("validateKeyMaterial", () => {
  it("accepts PKCS#8 of the right curve and size", () => {
    expect(validateKeyMaterial("ECC_NIST_P256", p256).equals(p256)).toBe(true);
    expect(validateKeyMaterial("ECC_SECG_P256K1", ecPkcs8("secp256k1")).length).toBeGreaterThan(0);
    expect(validateKeyMaterial("RSA_2048", rsa2048).equals(rsa2048)).toBe(true);
  });

  it("rejects the vendored vectors' SEC1 and PKCS#1 plaintexts, naming the format", () => {
    const sec1 = vectorMaterial("01-ec-p256-RSAES_OAEP_SHA_256-RSA_4096.json");
    const pkcs1 = vectorMaterial("06-rsa-2048-RSA_AES_KEY_WRAP_SHA_256-RSA_4096.json");
    expect(rejection(() => validateKeyMaterial("ECC_NIST_P256", sec1))).toContain(
      "expected PKCS#8 (RFC 5208) DER; got SEC1/PKCS#1",
    );
    expect(rejection(() => validateKeyMaterial("RSA_2048", pkcs1))).toContain(
      "expected PKCS#8 (RFC 5208) DER; got SEC1/PKCS#1",
    );
    // The same keys re-encoded as PKCS#8 are fine.
    const sec1AsPkcs8 = createPrivateKey({ key: sec1, format: "der", type: "sec1" }).export({
      format: "der",
      type: "pkcs8",
    });
    expect(validateKeyMaterial("ECC_NIST_P256", sec1AsPkcs8).length).toBe(sec1AsPkcs8.length);
  });

  it("rejects the wrong curve, the wrong RSA size and the wrong family", () => {
    expect(rejection(() => validateKeyMaterial("ECC_NIST_P384", p256))).toMatch(/curve/);
    expect(rejection(() => validateKeyMaterial("RSA_3072", rsa2048))).toMatch(/3072-bit/);
    expect(rejection(() => validateKeyMaterial("RSA_2048", p256))).toMatch(/rsaEncryption/);
  });

  it("rejects three-prime RSA", () => {
    expect(rejection(() => validateKeyMaterial("RSA_2048", threePrimeRsaPkcs8()))).toMatch(/two primes/);
  });

  it("rejects explicit curve parameters", () => {
    // DER straight from the generator: no KeyObject of a key whose generation job is still alive (key-pairs.ts).
    const explicit = generateKeyPairSync("ec", {
      namedCurve: "prime256v1",
      paramEncoding: "explicit",
      publicKeyEncoding: { format: "der", type: "spki" },
      privateKeyEncoding: { format: "der", type: "pkcs8" },
    }).privateKey;
    expect(rejection(() => validateKeyMaterial("ECC_NIST_P256", explicit))).toMatch(/explicit/);
  });

  it("rejects trailing bytes unless zero padding is accepted, and then only < 8 zeros", () => {
    const padded = Buffer.concat([p256, Buffer.alloc(6)]);
    expect(rejection(() => validateKeyMaterial("ECC_NIST_P256", padded))).toMatch(/6 trailing bytes/);
    const onStripped = vi.fn();
    const accepted = validateKeyMaterial("ECC_NIST_P256", padded, {
      acceptKwpZeroPadding: true,
      onZeroPaddingStripped: onStripped,
    });
    expect(accepted.equals(p256)).toBe(true);
    expect(onStripped).toHaveBeenCalledWith(6);
    const options = { acceptKwpZeroPadding: true };
    expect(
      rejection(() => validateKeyMaterial("ECC_NIST_P256", Buffer.concat([p256, Buffer.alloc(8)]), options)),
    ).toMatch(/trailing/);
    expect(
      rejection(() =>
        validateKeyMaterial("ECC_NIST_P256", Buffer.concat([p256, Buffer.from([0, 1])]), options),
      ),
    ).toMatch(/trailing/);
  });

  it("rejects malformed DER and a mismatched embedded public key", () => {
    expect(rejection(() => validateKeyMaterial("ECC_NIST_P256", p256.subarray(0, 60)))).toMatch(/DER/);
    expect(
      rejection(() =>
        validateKeyMaterial("ECC_NIST_P256", derElement(0x30, Buffer.from([0x02, 0x01, 0x00]))),
      ),
    ).toMatch(/PKCS#8/);
    const other = ecPkcs8("prime256v1");
    // Swap the embedded public point for another key's: same length, wrong point.
    const mixed = Buffer.concat([p256.subarray(0, p256.length - 65), other.subarray(other.length - 65)]);
    expect(rejection(() => validateKeyMaterial("ECC_NIST_P256", mixed))).toMatch(/public key/);
  });

  it("checks AES and HMAC lengths", () => {
    expect(validateKeyMaterial("SYMMETRIC_DEFAULT", randomBytes(32)).length).toBe(32);
    expect(rejection(() => validateKeyMaterial("SYMMETRIC_DEFAULT", randomBytes(16)))).toMatch(/32 bytes/);
    expect(validateKeyMaterial("HMAC_256", randomBytes(32)).length).toBe(32);
    expect(validateKeyMaterial("HMAC_224", randomBytes(128)).length).toBe(128);
    expect(rejection(() => validateKeyMaterial("HMAC_384", randomBytes(32)))).toMatch(/48 to 128/);
    expect(rejection(() => validateKeyMaterial("HMAC_512", randomBytes(129)))).toMatch(/128/);
  });
});
