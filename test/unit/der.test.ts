import { createPublicKey } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { newKeyPairSync } from "../../src/shared/crypto/key-pairs.js";
import { mod, modInverse } from "../../src/shared/crypto/modular.js";
import { DER_TAG, derElement, derLength, derUnsignedInteger } from "../../src/shared/der.js";
import { readElement, readUnsigned } from "../../src/testkit/kms-emulator/der.js";

describe("DER encoding (src/shared/der.ts)", () => {
  it("encodes lengths in the minimal definite form, also at and past 256", () => {
    expect(derLength(0).toString("hex")).toBe("00");
    expect(derLength(127).toString("hex")).toBe("7f");
    expect(derLength(128).toString("hex")).toBe("8180");
    expect(derLength(255).toString("hex")).toBe("81ff");
    expect(derLength(256).toString("hex")).toBe("820100");
    expect(derLength(300).toString("hex")).toBe("82012c");
    expect(derLength(65_535).toString("hex")).toBe("82ffff");
    expect(derLength(65_536).toString("hex")).toBe("83010000");
    expect(() => derLength(-1)).toThrow(RangeError);
  });

  it("writes elements of any length that a strict DER reader reads back whole", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 70_000 }), (length) => {
        const encoded = derElement(DER_TAG.OCTET_STRING, Buffer.alloc(length, 0xab));
        const element = readElement(encoded, 0);
        expect(element.tag).toBe(DER_TAG.OCTET_STRING);
        expect(element.end).toBe(encoded.length);
        expect(element.end - element.start).toBe(length);
      }),
      { numRuns: 200 },
    );
  });

  it("encodes non-negative INTEGERs minimally, with a zero byte before a high bit", () => {
    expect(derUnsignedInteger(0n).toString("hex")).toBe("020100");
    expect(derUnsignedInteger(127n).toString("hex")).toBe("02017f");
    expect(derUnsignedInteger(128n).toString("hex")).toBe("02020080");
    expect(derUnsignedInteger(256n).toString("hex")).toBe("02020100");
    expect(() => derUnsignedInteger(-1n)).toThrow(RangeError);
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 1n << 4200n }), (value) => {
        const encoded = derUnsignedInteger(value);
        expect(readUnsigned(encoded, readElement(encoded, 0))).toBe(value);
      }),
    );
  });

  it("builds a SubjectPublicKeyInfo longer than 256 bytes that node:crypto parses (RSA 2048)", () => {
    const { publicKey } = newKeyPairSync({ type: "rsa", modulusLength: 2048 });
    const jwk = publicKey.export({ format: "jwk" });
    const n = BigInt(`0x${Buffer.from(jwk.n ?? "", "base64url").toString("hex")}`);
    const e = BigInt(`0x${Buffer.from(jwk.e ?? "", "base64url").toString("hex")}`);
    const rsaPublicKey = derElement(DER_TAG.SEQUENCE, derUnsignedInteger(n), derUnsignedInteger(e));
    const algorithm = derElement(DER_TAG.SEQUENCE, Buffer.from("06092a864886f70d0101010500", "hex"));
    const spki = derElement(
      DER_TAG.SEQUENCE,
      algorithm,
      derElement(DER_TAG.BIT_STRING, Buffer.from([0]), rsaPublicKey),
    );
    expect(spki.length).toBeGreaterThan(256);
    expect(spki).toEqual(publicKey.export({ format: "der", type: "spki" }));
    expect(
      createPublicKey({ key: spki, format: "der", type: "spki" }).asymmetricKeyDetails?.modulusLength,
    ).toBe(2048);
  });
});

describe("modular arithmetic (src/shared/crypto/modular.ts)", () => {
  const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

  it("mod is never negative", () => {
    expect(mod(-7n, 5n)).toBe(3n);
    expect(mod(7n, 5n)).toBe(2n);
  });

  it("modInverse gives a · a⁻¹ ≡ 1, and refuses numbers that share a factor", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: P256_ORDER - 1n }), (a) => {
        expect(mod(a * modInverse(a, P256_ORDER), P256_ORDER)).toBe(1n);
      }),
    );
    expect(modInverse(3n, 7n)).toBe(5n);
    expect(() => modInverse(6n, 9n)).toThrow(RangeError);
  });
});
