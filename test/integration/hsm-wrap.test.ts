import {
  createCipheriv,
  createECDH,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  type KeyObject,
} from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newKeyPair } from "../../src/shared/crypto/key-pairs.js";
import { unwrapKeyMaterial } from "../../src/shared/crypto/kms-wrap.js";
import { findSourceKey } from "../../src/shared/hsm/find.js";
import { chooseWrapPlan, openPkcs11Hsm } from "../../src/shared/hsm/index.js";
import { readDer } from "../../src/shared/hsm/spki.js";
import type { HsmPort, WrapCapabilities, WrapPlan } from "../../src/shared/hsm/types.js";
import { wrapKeyForImport } from "../../src/shared/hsm/wrap.js";
import { keySpecInfo } from "../../src/shared/key-specs.js";
import { silentLogger } from "../../src/shared/logger.js";
import { SAMPLE_KEY_NAMES, SAMPLE_KEYS, type SampleKeyName } from "../../src/testkit/sample-keys.js";
import { createTestToken, listTokenObjects, type TestToken, withTokenSession } from "../helpers/softhsm.js";

let token: TestToken;
let hsm: HsmPort;
let capabilities: WrapCapabilities;
let wrapping2048: { publicDer: Buffer; privateKey: KeyObject };
let wrapping4096: { publicDer: Buffer; privateKey: KeyObject };

async function wrappingPair(bits: number) {
  const { publicKey, privateKey } = await newKeyPair({ type: "rsa", modulusLength: bits });
  return { publicDer: publicKey.export({ format: "der", type: "spki" }), privateKey };
}

const objectCount = async () => (await listTokenObjects(token.env)).length;

function planFor(name: SampleKeyName): WrapPlan {
  const plan = chooseWrapPlan(SAMPLE_KEYS[name].keySpec, capabilities, "RSA_2048");
  if ("unsupported" in plan) throw new Error(plan.unsupported);
  return plan;
}

beforeAll(async () => {
  [token, wrapping2048, wrapping4096] = await Promise.all([
    createTestToken({ keys: SAMPLE_KEY_NAMES }),
    wrappingPair(2048),
    wrappingPair(4096),
  ]);
  hsm = await openPkcs11Hsm(token.hsmConfig, { sessions: 4 });
  capabilities = await hsm.capabilities();
});

afterAll(async () => {
  await hsm?.close();
  await token?.cleanup();
});

describe("capabilities on SoftHSM2 2.6.1", () => {
  it("are probed, not assumed: SHA-1 OAEP only, no native rsa-aes, KWP with zero padding, ECDH", async () => {
    expect(capabilities).toEqual({
      oaepHashes: ["sha1"],
      rsaAesKeyWrapHashes: [],
      aesKeyWrapPad: true,
      kwpZeroPads: true,
      oaepWrapsPrivateKeys: false,
      ecdh: true,
      manufacturer: "SoftHSM project",
      model: "SoftHSM v2",
    });
    expect(await hsm.capabilities()).toBe(capabilities);
  });

  it("leave nothing behind on the token", async () => {
    expect((await listTokenObjects(token.env)).filter((object) => !object.token)).toEqual([]);
  });
});

const asymmetric = SAMPLE_KEY_NAMES.filter(
  (name) => SAMPLE_KEYS[name].extractable && ["ec", "rsa"].includes(SAMPLE_KEYS[name].kind.type),
);
const secret = SAMPLE_KEY_NAMES.filter((name) => ["aes", "hmac"].includes(SAMPLE_KEYS[name].kind.type));
/** SoftHSM2 2.6.1 zero-pads to a multiple of 8 before AES-KWP: P-256 (67 B) and P-521 (98 B) show it. */
const PADDED = new Set<SampleKeyName>(["sample-ec-p256", "sample-ec-p521"]);
const UNPADDED = new Set<SampleKeyName>(["sample-ec-p384", "sample-ec-secp256k1"]);

describe("wrapKey inside SoftHSM2, unwrapped in node:crypto", () => {
  it.each(asymmetric)("%s unwraps to PKCS#8 whose public key is describeKey's SPKI", async (name) => {
    const before = await objectCount();
    const wrapping = name === "sample-rsa-4096" ? wrapping4096 : wrapping2048;
    const plan = planFor(name);
    expect(plan).toEqual({ wrappingAlgorithm: "RSA_AES_KEY_WRAP_SHA_1", hsmPath: "two-step" });
    const description = await hsm.describeKey({ label: name });
    const ciphertext = await hsm.wrapKey({ label: name }, { wrappingPublicKeyDer: wrapping.publicDer, plan });
    const material = unwrapKeyMaterial(plan.wrappingAlgorithm, wrapping.privateKey, ciphertext);

    const { end } = readDer(material);
    const padding = material.subarray(end);
    expect(padding.every((byte) => byte === 0)).toBe(true);
    expect(padding.length).toBe((8 - (end % 8)) % 8);
    if (PADDED.has(name)) expect(padding.length).toBeGreaterThan(0);
    if (UNPADDED.has(name)) expect(padding.length).toBe(0);

    const privateKey = createPrivateKey({ key: material.subarray(0, end), format: "der", type: "pkcs8" });
    expect(createPublicKey(privateKey).export({ format: "der", type: "spki" })).toEqual(
      description.publicKeySpkiDer,
    );
    expect(await objectCount()).toBe(before);
  });

  it.each(secret)(
    "%s unwraps to raw key bytes of the right length that the HSM agrees with",
    async (name) => {
      const before = await objectCount();
      const plan = planFor(name);
      expect(plan).toEqual({ wrappingAlgorithm: "RSAES_OAEP_SHA_1", hsmPath: "oaep-direct" });
      const description = await hsm.describeKey({ label: name });
      const ciphertext = await hsm.wrapKey(
        { label: name },
        { wrappingPublicKeyDer: wrapping2048.publicDer, plan },
      );
      const material = unwrapKeyMaterial(plan.wrappingAlgorithm, wrapping2048.privateKey, ciphertext);
      expect(material.length).toBe(description.secretBytes);
      const kind = SAMPLE_KEYS[name].kind;
      if (kind.type === "aes") {
        // SoftHSM2's AES check value: the first 3 bytes of the key's ECB encryption of a zero block.
        const kcv = createCipheriv("aes-256-ecb", material, null).update(Buffer.alloc(16)).subarray(0, 3);
        expect(description.fingerprint).toBe(`kcv:${kcv.toString("hex")}`);
      } else if (kind.type === "hmac") {
        expect(material.length).toBe(kind.bytes);
        const message = Buffer.from(`hmac challenge for ${name}`);
        const hash = keySpecInfo(SAMPLE_KEYS[name].keySpec).hash ?? "sha256";
        expect(await hsm.hmac({ label: name }, message)).toEqual(
          createHmac(hash, material).update(message).digest(),
        );
      }
      expect(await objectCount()).toBe(before);
    },
  );

  it("computes the HMAC of the spec the key is imported as (a 64-byte key imported as HMAC_256)", async () => {
    const plan = planFor("sample-hmac-512");
    const ciphertext = await hsm.wrapKey(
      { label: "sample-hmac-512" },
      { wrappingPublicKeyDer: wrapping2048.publicDer, plan },
    );
    const material = unwrapKeyMaterial(plan.wrappingAlgorithm, wrapping2048.privateKey, ciphertext);
    const message = Buffer.from("shorter spec");
    expect(await hsm.hmac({ label: "sample-hmac-512" }, message, "HMAC_256")).toEqual(
      createHmac("sha256", material).update(message).digest(),
    );
  });

  it("an HMAC the token refuses leaves no signing operation open on its pooled session", async () => {
    // pkcs11js refuses an empty message after C_SignInit; the session must still serve the next key.
    const single = await openPkcs11Hsm(token.hsmConfig, { sessions: 1 });
    try {
      await expect(single.hmac({ label: "sample-hmac-256" }, Buffer.alloc(0))).rejects.toThrow(/C_Sign/);
      const message = Buffer.from("after a refused HMAC");
      expect(await single.hmac({ label: "sample-hmac-256" }, message)).toHaveLength(32);
      expect((await single.describeKey({ label: "sample-ec-p256" })).keySpec).toBe("ECC_NIST_P256");
    } finally {
      await single.close();
    }
  });

  it.each(["sample-ec-p256", "sample-ec-p384", "sample-ec-p521"] as const)(
    "derives the same ECDH secret in the HSM as node:crypto does for %s",
    async (name) => {
      const before = await objectCount();
      const curve = keySpecInfo(SAMPLE_KEYS[name].keySpec).curve;
      const peer = createECDH(curve?.nodeName ?? "");
      peer.generateKeys();
      const jwk = {
        kty: "EC",
        crv: { prime256v1: "P-256", secp384r1: "P-384", secp521r1: "P-521" }[curve?.nodeName ?? ""] ?? "",
        x: peer
          .getPublicKey()
          .subarray(1, 1 + (curve?.fieldBytes ?? 0))
          .toString("base64url"),
        y: peer
          .getPublicKey()
          .subarray(1 + (curve?.fieldBytes ?? 0))
          .toString("base64url"),
      };
      const peerSpki = createPublicKey({ key: jwk, format: "jwk" }).export({ format: "der", type: "spki" });
      const hsmPublic = createPublicKey({
        key: (await hsm.describeKey({ label: name })).publicKeySpkiDer ?? Buffer.alloc(0),
        format: "der",
        type: "spki",
      }).export({ format: "jwk" });
      const hsmPoint = Buffer.concat([
        Buffer.from([4]),
        Buffer.from(hsmPublic.x ?? "", "base64url"),
        Buffer.from(hsmPublic.y ?? "", "base64url"),
      ]);
      expect(await hsm.deriveSharedSecret({ label: name }, peerSpki)).toEqual(peer.computeSecret(hsmPoint));
      expect(await objectCount()).toBe(before);
    },
  );
});

describe("wrapKey failures", () => {
  const ecPlan: WrapPlan = { wrappingAlgorithm: "RSA_AES_KEY_WRAP_SHA_1", hsmPath: "two-step" };

  it("checks the key against preflight's fingerprint in the wrap's session: another key is refused before any wrap", async () => {
    const before = await objectCount();
    const p256 = await hsm.describeKey({ label: "sample-ec-p256" });
    const p384 = await hsm.describeKey({ label: "sample-ec-p384" });
    const request = { wrappingPublicKeyDer: wrapping2048.publicDer, plan: ecPlan };
    await expect(
      hsm.wrapKey({ label: "sample-ec-p256" }, { ...request, expectedFingerprint: p384.fingerprint }),
    ).rejects.toMatchObject({
      kind: "fatal",
      code: "SOURCE_KEY_CHANGED",
      message: expect.stringContaining(
        `key "sample-ec-p256": the HSM key changed since preflight (fingerprint ${p256.fingerprint}`,
      ),
    });
    const material = unwrapKeyMaterial(
      ecPlan.wrappingAlgorithm,
      wrapping2048.privateKey,
      await hsm.wrapKey({ label: "sample-ec-p256" }, { ...request, expectedFingerprint: p256.fingerprint }),
    );
    expect(material[0]).toBe(0x30);
    expect(await objectCount()).toBe(before);
  });

  it("refuses the non-extractable key with SOURCE_KEY_NOT_EXTRACTABLE naming it", async () => {
    const description = await hsm.describeKey({ label: "sample-ec-p256-nonextractable" });
    expect(description.extractable).toBe(false);
    await expect(
      hsm.wrapKey(
        { label: "sample-ec-p256-nonextractable" },
        { wrappingPublicKeyDer: wrapping2048.publicDer, plan: ecPlan },
      ),
    ).rejects.toMatchObject({
      kind: "fatal",
      code: "SOURCE_KEY_NOT_EXTRACTABLE",
      message: expect.stringContaining('key "sample-ec-p256-nonextractable"'),
    });
  });

  it("maps the HSM's own CKR_KEY_UNEXTRACTABLE to SOURCE_KEY_NOT_EXTRACTABLE (no reliance on the pre-check)", async () => {
    const before = await objectCount();
    const failure = withTokenSession(token.env, (pkcs11, session) => {
      const key = findSourceKey(pkcs11, session, { label: "sample-ec-p256-nonextractable" }, token.label);
      return wrapKeyForImport(
        { pkcs11, session, logger: silentLogger() },
        { handle: key.handle, subject: `key "${key.label}"`, extractable: true },
        { wrappingPublicKeyDer: wrapping2048.publicDer, plan: ecPlan },
      );
    });
    await expect(failure).rejects.toMatchObject({
      kind: "fatal",
      code: "SOURCE_KEY_NOT_EXTRACTABLE",
      message: expect.stringContaining("CKR_KEY_UNEXTRACTABLE"),
    });
    expect(await objectCount()).toBe(before);
  });

  it.each([
    ["a corrupt wrapping key SPKI", Buffer.from("30820122300d06092a", "hex"), ecPlan, "WRAPPING_KEY_INVALID"],
    [
      "SHA-256 OAEP after the ephemeral AES key was made and used",
      undefined,
      { wrappingAlgorithm: "RSA_AES_KEY_WRAP_SHA_256", hsmPath: "two-step" },
      "HSM_MECHANISM_UNAVAILABLE",
    ],
    [
      "OAEP of a private key, which SoftHSM2 cannot wrap",
      undefined,
      { wrappingAlgorithm: "RSAES_OAEP_SHA_1", hsmPath: "oaep-direct" },
      "SOURCE_KEY_NOT_WRAPPABLE",
    ],
    [
      "a plan whose path cannot produce its algorithm",
      undefined,
      { wrappingAlgorithm: "RSAES_OAEP_SHA_1", hsmPath: "two-step" },
      "WRAP_PLAN_INVALID",
    ],
  ] as const)("fails fatally on %s and leaves no object behind", async (_case, spki, plan, code) => {
    const before = await objectCount();
    await expect(
      hsm.wrapKey(
        { label: "sample-ec-p256" },
        { wrappingPublicKeyDer: spki ?? wrapping2048.publicDer, plan },
      ),
    ).rejects.toMatchObject({
      kind: "fatal",
      code,
      message: expect.stringMatching(/sample-ec-p256|wrapping|cannot be produced/),
    });
    expect(await objectCount()).toBe(before);
  });
});

describe("concurrency", () => {
  it("runs 20 concurrent wraps on a pool of 4 sessions, all correct, none left open", async () => {
    const before = await objectCount();
    const names: SampleKeyName[] = ["sample-ec-p256", "sample-rsa-2048", "sample-aes-256", "sample-hmac-384"];
    const jobs = Array.from({ length: 20 }, (_, index) => names[index % names.length] as SampleKeyName);
    const results = await Promise.all(
      jobs.map(async (name) => {
        const plan = planFor(name);
        const ciphertext = await hsm.wrapKey(
          { label: name },
          { wrappingPublicKeyDer: wrapping2048.publicDer, plan },
        );
        expect(hsm.sessionStats().open).toBeLessThanOrEqual(4);
        return createHash("sha256")
          .update(unwrapKeyMaterial(plan.wrappingAlgorithm, wrapping2048.privateKey, ciphertext))
          .digest("hex");
      }),
    );
    // The same key always unwraps to the same material, whichever session wrapped it.
    for (const [index, name] of jobs.entries()) expect(results[index]).toBe(results[names.indexOf(name)]);
    expect(hsm.sessionStats()).toEqual({ open: 4, inUse: 0 });
    expect(await objectCount()).toBe(before);
  });
});
