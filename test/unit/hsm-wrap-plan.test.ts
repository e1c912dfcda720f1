import { describe, expect, it } from "vitest";
import type { WrapCapabilities } from "../../src/shared/hsm/types.js";
import { chooseWrapPlan } from "../../src/shared/hsm/wrap-plan.js";
import { KEY_SPECS } from "../../src/shared/key-specs.js";

const softHsm: WrapCapabilities = {
  oaepHashes: ["sha1"],
  rsaAesKeyWrapHashes: [],
  aesKeyWrapPad: true,
  kwpZeroPads: true,
  oaepWrapsPrivateKeys: false,
  ecdh: true,
  manufacturer: "SoftHSM project",
  model: "SoftHSM v2",
};

const cloudHsm: WrapCapabilities = {
  oaepHashes: ["sha256", "sha1"],
  rsaAesKeyWrapHashes: ["sha256", "sha1"],
  aesKeyWrapPad: true,
  kwpZeroPads: false,
  oaepWrapsPrivateKeys: true,
  ecdh: true,
  manufacturer: "Marvell Semiconductor, Inc.",
  model: "LS2",
};

describe("chooseWrapPlan", () => {
  it("on SoftHSM2 2.6.1: private keys RSA_AES_KEY_WRAP_SHA_1 two-step, secret keys RSAES_OAEP_SHA_1 direct", () => {
    for (const spec of KEY_SPECS) {
      const expected =
        spec === "SYMMETRIC_DEFAULT" || spec.startsWith("HMAC")
          ? { wrappingAlgorithm: "RSAES_OAEP_SHA_1", hsmPath: "oaep-direct" }
          : { wrappingAlgorithm: "RSA_AES_KEY_WRAP_SHA_1", hsmPath: "two-step" };
      expect(chooseWrapPlan(spec, softHsm, "RSA_4096"), spec).toEqual(expected);
      expect(chooseWrapPlan(spec, softHsm), spec).toEqual(expected);
    }
  });

  it("on a CloudHSM-like token prefers SHA-256 and the native rsa-aes mechanism", () => {
    expect(chooseWrapPlan("RSA_3072", cloudHsm)).toEqual({
      wrappingAlgorithm: "RSA_AES_KEY_WRAP_SHA_256",
      hsmPath: "rsa-aes-native",
    });
    expect(chooseWrapPlan("HMAC_384", cloudHsm)).toEqual({
      wrappingAlgorithm: "RSAES_OAEP_SHA_256",
      hsmPath: "oaep-direct",
    });
    expect(chooseWrapPlan("ECC_NIST_P256", cloudHsm, "RSA_2048")).toEqual({
      wrappingAlgorithm: "RSAES_OAEP_SHA_256",
      hsmPath: "oaep-direct",
    });
  });

  it("uses the two-step path with SHA-256 when the native mechanism is missing", () => {
    const noNative = { ...cloudHsm, rsaAesKeyWrapHashes: [] };
    expect(chooseWrapPlan("RSA_2048", noNative)).toEqual({
      wrappingAlgorithm: "RSA_AES_KEY_WRAP_SHA_256",
      hsmPath: "two-step",
    });
    // SHA-256 wins over the native path: the hash preference comes first.
    expect(chooseWrapPlan("RSA_2048", { ...noNative, rsaAesKeyWrapHashes: ["sha1"] })).toEqual({
      wrappingAlgorithm: "RSA_AES_KEY_WRAP_SHA_256",
      hsmPath: "two-step",
    });
  });

  it("refuses P-521 with RSAES_OAEP under RSA_2048 and wraps it with rsa-aes instead", () => {
    expect(chooseWrapPlan("ECC_NIST_P521", cloudHsm, "RSA_2048")).toEqual({
      wrappingAlgorithm: "RSA_AES_KEY_WRAP_SHA_256",
      hsmPath: "rsa-aes-native",
    });
    expect(chooseWrapPlan("ECC_NIST_P521", cloudHsm, "RSA_3072")).toEqual({
      wrappingAlgorithm: "RSAES_OAEP_SHA_256",
      hsmPath: "oaep-direct",
    });
    const oaepOnly = { ...cloudHsm, rsaAesKeyWrapHashes: [], aesKeyWrapPad: false };
    const refused = chooseWrapPlan("ECC_NIST_P521", oaepOnly, "RSA_2048");
    expect(refused).toHaveProperty("unsupported");
    expect((refused as { unsupported: string }).unsupported).toMatch(
      /KMS refuses RSAES_OAEP_SHA_256.*RSA_2048/,
    );
  });

  it("never OAEP-wraps an RSA private key, even when the token could", () => {
    const oaepOnly = { ...cloudHsm, rsaAesKeyWrapHashes: [], aesKeyWrapPad: false };
    const plan = chooseWrapPlan("RSA_2048", oaepOnly);
    expect(plan).toHaveProperty("unsupported");
    expect((plan as { unsupported: string }).unsupported).toContain("RSA_2048");
  });

  it("says what the token lacks when nothing fits", () => {
    const none: WrapCapabilities = { ...softHsm, oaepHashes: [], aesKeyWrapPad: false };
    const plan = chooseWrapPlan("SYMMETRIC_DEFAULT", none) as { unsupported: string };
    expect(plan.unsupported).toMatch(
      /SoftHSM project SoftHSM v2 offers no wrapping KMS accepts for SYMMETRIC_DEFAULT/,
    );
    expect(plan.unsupported).toContain("OAEP hashes []");
  });

  it("treats a token that does not report oaepWrapsPrivateKeys as unable to", () => {
    const { oaepWrapsPrivateKeys: _omitted, ...older } = cloudHsm;
    expect(chooseWrapPlan("ECC_NIST_P384", older)).toEqual({
      wrappingAlgorithm: "RSA_AES_KEY_WRAP_SHA_256",
      hsmPath: "rsa-aes-native",
    });
  });
});
