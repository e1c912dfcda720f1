import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { newKeyPairSync } from "../../src/shared/crypto/key-pairs.js";
import {
  isWrappingAllowed,
  KEY_SPECS,
  keySpecInfo,
  WRAPPING_ALGORITHMS,
  WRAPPING_KEY_SPECS,
} from "../../src/shared/key-specs.js";
import {
  EMULATED_KEY_SPECS,
  emulatedSpec,
  WRAPPING_ALGORITHM_VALUES,
  WRAPPING_KEY_SPEC_VALUES,
  wrappingRefusal,
} from "../../src/testkit/kms-emulator/spec-table.js";
import { unwrapImportedMaterial } from "../../src/testkit/kms-emulator/unwrap.js";
import { wrapKeyMaterial } from "../../src/testkit/wrap-key-material.js";

/**
 * The product's key-spec table and the emulator's are written separately from AWS's documents; they must agree
 * on every key spec the product supports, so a mistake on either side fails here instead of passing every
 * emulator test.
 */
describe("the emulator's key-spec table and the product's agree", () => {
  it("the emulator serves every key spec the product supports", () => {
    for (const spec of KEY_SPECS) expect(EMULATED_KEY_SPECS).toContain(spec);
  });

  it.each(KEY_SPECS)("%s: family, size, curve, usages and algorithms", (spec) => {
    const product = keySpecInfo(spec);
    const emulator = emulatedSpec(spec);
    expect(emulator.family).toBe(product.family);
    expect(emulator.bits).toBe(product.bits);
    expect(emulator.curve?.nodeName).toBe(product.curve?.nodeName);
    expect(emulator.curve?.oidDerHex).toBe(product.curve?.oidDerHex);
    expect(emulator.curve?.fieldBytes).toBe(product.curve?.fieldBytes);
    expect([...emulator.usages].sort()).toEqual([...product.usages].sort());
    expect([...(emulator.signingAlgorithms ?? [])].sort()).toEqual(
      [...(product.signingAlgorithms ?? [])].sort(),
    );
    expect(emulator.macAlgorithm).toBe(product.macAlgorithm);
  });

  it.each(KEY_SPECS)("%s: which wrapping algorithm and wrapping key spec may import it", (spec) => {
    const disagreements: string[] = [];
    for (const algorithm of WRAPPING_ALGORITHMS)
      for (const wrappingKeySpec of WRAPPING_KEY_SPECS) {
        const emulatorAllows = wrappingRefusal(spec, algorithm, wrappingKeySpec, "us-east-1") === undefined;
        if (emulatorAllows !== isWrappingAllowed(spec, algorithm, wrappingKeySpec))
          disagreements.push(
            `${algorithm}/${wrappingKeySpec}: emulator ${emulatorAllows ? "allows" : "refuses"}`,
          );
      }
    expect(disagreements).toEqual([]);
  });

  it("the product wraps in the format the emulator unwraps, for every algorithm it uses", () => {
    const { privateKey, publicKey } = newKeyPairSync({ type: "rsa", modulusLength: 2048 });
    const spki = publicKey.export({ format: "der", type: "spki" });
    for (const algorithm of WRAPPING_ALGORITHMS) {
      const material = randomBytes(32);
      const wrapped = wrapKeyMaterial(algorithm, spki, material);
      expect(unwrapImportedMaterial(algorithm, privateKey, wrapped).equals(material)).toBe(true);
    }
  });
});

describe("the emulator's wrapping rules (GetParametersForImport, API Reference)", () => {
  const allows = (...args: Parameters<typeof wrappingRefusal>) => wrappingRefusal(...args) === undefined;

  it("refuses the deprecated RSAES_PKCS1_V1_5 and SM2 outside China for every key spec", () => {
    for (const spec of EMULATED_KEY_SPECS)
      for (const wrappingKeySpec of WRAPPING_KEY_SPEC_VALUES) {
        expect(allows(spec, "RSAES_PKCS1_V1_5", wrappingKeySpec, "us-east-1")).toBe(false);
        expect(allows(spec, "SM2PKE", wrappingKeySpec, "us-east-1")).toBe(false);
      }
    expect(wrappingRefusal("SYMMETRIC_DEFAULT", "SM2PKE", "SM2", "eu-west-1")).toMatch(/China Regions/);
  });

  it("RSA private keys need RSA_AES_KEY_WRAP; symmetric and HMAC material may not use it", () => {
    expect(allows("RSA_4096", "RSAES_OAEP_SHA_256", "RSA_4096", "us-east-1")).toBe(false);
    expect(allows("RSA_4096", "RSA_AES_KEY_WRAP_SHA_256", "RSA_2048", "us-east-1")).toBe(true);
    expect(allows("SYMMETRIC_DEFAULT", "RSA_AES_KEY_WRAP_SHA_256", "RSA_4096", "us-east-1")).toBe(false);
    expect(allows("HMAC_512", "RSA_AES_KEY_WRAP_SHA_1", "RSA_4096", "us-east-1")).toBe(false);
  });

  it("ECC_NIST_P521 under RSAES_OAEP needs more than RSA_2048; China Regions have no RSA_AES_KEY_WRAP", () => {
    expect(allows("ECC_NIST_P521", "RSAES_OAEP_SHA_256", "RSA_2048", "us-east-1")).toBe(false);
    expect(allows("ECC_NIST_P521", "RSAES_OAEP_SHA_256", "RSA_3072", "us-east-1")).toBe(true);
    expect(allows("ECC_NIST_P256", "RSA_AES_KEY_WRAP_SHA_256", "RSA_2048", "cn-north-1")).toBe(false);
    expect(allows("ECC_NIST_P256", "RSAES_OAEP_SHA_256", "RSA_2048", "cn-north-1")).toBe(true);
    expect(WRAPPING_ALGORITHM_VALUES).toContain("RSAES_PKCS1_V1_5");
  });
});
