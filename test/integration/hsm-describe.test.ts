import { createHash, createPublicKey } from "node:crypto";
import { Writable } from "node:stream";
import pkcs11js from "pkcs11js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findObjects } from "../../src/shared/hsm/attributes.js";
import { acquireLibrary, openPkcs11Hsm } from "../../src/shared/hsm/index.js";
import { findToken } from "../../src/shared/hsm/token.js";
import type { HsmPort } from "../../src/shared/hsm/types.js";
import { createLogger } from "../../src/shared/logger.js";
import { SAMPLE_KEYS } from "../../src/testkit/sample-keys.js";
import { createTestToken, type TestToken, withTokenSession } from "../helpers/softhsm.js";

const P = pkcs11js;
let token: TestToken;
let hsm: HsmPort;
const logLines: string[] = [];
const logDestination = new Writable({
  write(chunk, _encoding, done) {
    logLines.push(String(chunk));
    done();
  },
});

const names = (label: string, idHex: string) => [
  { type: P.CKA_TOKEN, value: true },
  { type: P.CKA_LABEL, value: label },
  { type: P.CKA_ID, value: Buffer.from(idHex, "hex") },
];

/** Keys the sandbox does not make: duplicates, sizes and curves KMS refuses, an EC key without public object. */
async function addOddKeys(): Promise<void> {
  await withTokenSession(token.env, async (pkcs11, session) => {
    const aes = (label: string, idHex: string, bytes: number) =>
      pkcs11.C_GenerateKeyAsync(session, { mechanism: P.CKM_AES_KEY_GEN }, [
        ...names(label, idHex),
        { type: P.CKA_VALUE_LEN, value: bytes },
      ]);
    const ecPair = (label: string, idHex: string, paramsHex: string) =>
      pkcs11.C_GenerateKeyPairAsync(
        session,
        { mechanism: P.CKM_EC_KEY_PAIR_GEN },
        [...names(label, idHex), { type: P.CKA_EC_PARAMS, value: Buffer.from(paramsHex, "hex") }],
        [...names(label, idHex), { type: P.CKA_PRIVATE, value: true }],
      );
    await aes("duplicate-label", "dd01", 32);
    await aes("duplicate-label", "dd02", 32);
    await aes("aes-128", "a128", 16);
    await ecPair("brainpool", "b256", "06092b2403030208010107");
    // Two key pairs under one label and id: which public key belongs to which private key is unknowable.
    await ecPair("twin", "7777", "06082a8648ce3d030107");
    await ecPair("twin", "7777", "06082a8648ce3d030107");
    const lonely = await ecPair("ec-no-public", "e0e0", "06082a8648ce3d030107");
    pkcs11.C_DestroyObject(session, lonely.publicKey);
    await pkcs11.C_GenerateKeyPairAsync(
      session,
      { mechanism: P.CKM_RSA_PKCS_KEY_PAIR_GEN },
      [...names("rsa-1024", "1024"), { type: P.CKA_MODULUS_BITS, value: 1024 }],
      [...names("rsa-1024", "1024"), { type: P.CKA_PRIVATE, value: true }],
    );
  });
}

/** A public key object's attribute, read straight from the token. */
function publicAttribute(label: string, type: number): Promise<Buffer> {
  return withTokenSession(token.env, (pkcs11, session) => {
    const [handle] = findObjects(pkcs11, session, [
      { type: P.CKA_CLASS, value: P.CKO_PUBLIC_KEY },
      { type: P.CKA_LABEL, value: label },
    ]);
    if (!handle) throw new Error(`no public key ${label}`);
    return Buffer.from(pkcs11.C_GetAttributeValue(session, handle, [{ type }])[0]?.value ?? Buffer.alloc(0));
  });
}

beforeAll(async () => {
  token = await createTestToken({
    keys: ["sample-ec-p256", "sample-ec-secp256k1", "sample-rsa-2048", "sample-aes-256", "sample-hmac-224"],
  });
  await addOddKeys();
  hsm = await openPkcs11Hsm(token.hsmConfig, {
    sessions: 2,
    logger: createLogger({ level: "warn", destination: logDestination }),
  });
});

afterAll(async () => {
  await hsm?.close();
  await token?.cleanup();
});

describe("describeKey on SoftHSM2", () => {
  it("finds a key by label, by id and by both, with the same description", async () => {
    const { label, idHex } = SAMPLE_KEYS["sample-ec-p256"];
    const byLabel = await hsm.describeKey({ label });
    expect(await hsm.describeKey({ idHex })).toEqual(byLabel);
    expect(await hsm.describeKey({ label, idHex })).toEqual(byLabel);
    expect(byLabel).toMatchObject({
      label,
      idHex,
      objectClass: "private",
      keyType: "EC",
      keySpec: "ECC_NIST_P256",
      curveOid: "1.2.840.10045.3.1.7",
      extractable: true,
      wrapWithTrusted: false,
    });
  });

  it("says which key is missing, on which token", async () => {
    await expect(hsm.describeKey({ label: "nope" })).rejects.toMatchObject({
      kind: "fatal",
      code: "SOURCE_KEY_NOT_FOUND",
      message: `no private or secret key with label "nope" on token "${token.label}"`,
    });
    await expect(hsm.describeKey({ label: "sample-ec-p256", idHex: "dd01" })).rejects.toMatchObject({
      code: "SOURCE_KEY_NOT_FOUND",
      message: expect.stringContaining('label "sample-ec-p256" and id dd01'),
    });
  });

  it("refuses an ambiguous label, listing the candidates and pointing to source_id", async () => {
    const failure = hsm.describeKey({ label: "duplicate-label" });
    await expect(failure).rejects.toMatchObject({ kind: "fatal", code: "SOURCE_KEY_AMBIGUOUS" });
    await expect(failure).rejects.toThrow(/2 keys match.*id dd01.*id dd02.*source_id/);
    expect((await hsm.describeKey({ label: "duplicate-label", idHex: "dd02" })).idHex).toBe("dd02");
  });

  it.each(["sample-ec-p256", "sample-ec-secp256k1"] as const)(
    "builds %s's SPKI equal to node's key from the public object's point",
    async (name) => {
      const description = await hsm.describeKey({ label: name });
      const point = (await publicAttribute(name, P.CKA_EC_POINT)).subarray(2);
      const fieldBytes = (point.length - 1) / 2;
      const crv = name === "sample-ec-p256" ? "P-256" : "secp256k1";
      const nodeKey = createPublicKey({
        key: {
          kty: "EC",
          crv,
          x: point.subarray(1, 1 + fieldBytes).toString("base64url"),
          y: point.subarray(1 + fieldBytes).toString("base64url"),
        },
        format: "jwk",
      });
      expect(description.publicKeySpkiDer).toEqual(nodeKey.export({ format: "der", type: "spki" }));
    },
  );

  it("builds the RSA SPKI from modulus and exponent, and a stable SHA-256 fingerprint of it", async () => {
    const description = await hsm.describeKey({ label: "sample-rsa-2048" });
    const modulus = await publicAttribute("sample-rsa-2048", P.CKA_MODULUS);
    const spki = description.publicKeySpkiDer ?? Buffer.alloc(0);
    const jwk = createPublicKey({ key: spki, format: "der", type: "spki" }).export({ format: "jwk" });
    expect(Buffer.from(jwk.n ?? "", "base64url")).toEqual(modulus);
    expect(jwk.e).toBe("AQAB");
    expect(description).toMatchObject({
      keySpec: "RSA_2048",
      modulusBits: 2048,
      publicExponentHex: "010001",
    });
    expect(description.fingerprint).toBe(`sha256:${createHash("sha256").update(spki).digest("hex")}`);
    expect((await hsm.describeKey({ idHex: description.idHex })).fingerprint).toBe(description.fingerprint);
  });

  it("describes secret keys with their length and check value", async () => {
    expect(await hsm.describeKey({ label: "sample-aes-256" })).toMatchObject({
      objectClass: "secret",
      keyType: "AES",
      keySpec: "SYMMETRIC_DEFAULT",
      secretBytes: 32,
      fingerprint: expect.stringMatching(/^kcv:[0-9a-f]{6}$/),
    });
    expect(await hsm.describeKey({ label: "sample-hmac-224" })).toMatchObject({
      keyType: "GENERIC_SECRET",
      keySpec: "HMAC_224",
      secretBytes: 28,
    });
  });

  it("gives the reason KMS cannot import a key, instead of a KeySpec", async () => {
    expect(await hsm.describeKey({ label: "aes-128" })).toMatchObject({
      keySpec: undefined,
      unsupportedReason: "AES-128: KMS imports only 256-bit AES keys",
    });
    expect((await hsm.describeKey({ label: "rsa-1024" })).unsupportedReason).toMatch(
      /^RSA-1024: KMS imports RSA keys of 2048/,
    );
    expect((await hsm.describeKey({ label: "brainpool" })).unsupportedReason).toMatch(
      /EC curve 1\.3\.36\.3\.3\.2\.8\.1\.1\.7 is not importable/,
    );
  });

  it("fails clearly at describe time when an EC key has no public key object", async () => {
    await expect(hsm.describeKey({ label: "ec-no-public" })).rejects.toMatchObject({
      kind: "fatal",
      code: "SOURCE_PUBLIC_KEY_NOT_FOUND",
      message: expect.stringContaining("does not expose CKA_EC_POINT"),
    });
  });

  it("lists every private and secret key without throwing, unsupported ones with a reason", async () => {
    const keys = await hsm.listKeys();
    expect(keys.map((key) => key.label).sort()).toEqual(
      [
        "aes-128",
        "brainpool",
        "duplicate-label",
        "duplicate-label",
        "ec-no-public",
        "rsa-1024",
        "sample-aes-256",
        "sample-ec-p256",
        "sample-ec-secp256k1",
        "sample-hmac-224",
        "sample-rsa-2048",
        "twin",
        "twin",
      ].sort(),
    );
    for (const twin of keys.filter((key) => key.label === "twin"))
      expect(twin).toMatchObject({
        keySpec: undefined,
        keyType: "EC",
        unsupportedReason: expect.stringContaining("2 different EC public key objects share its id or label"),
        fingerprint: "object:twin/7777",
      });
    const lonely = keys.find((key) => key.label === "ec-no-public");
    expect(lonely?.keySpec).toBeUndefined();
    expect(lonely?.unsupportedReason).toContain("no EC public key object");
  });

  it("recovers when every session was closed behind the pool's back", async () => {
    const lease = acquireLibrary(token.hsmConfig.library);
    try {
      lease.pkcs11.C_CloseAllSessions(findToken(lease.pkcs11, { tokenLabel: token.label }).slot);
    } finally {
      lease.release();
    }
    expect((await hsm.describeKey({ label: "sample-rsa-2048" })).keySpec).toBe("RSA_2048");
    expect((await hsm.describeKey({ label: "sample-aes-256" })).keySpec).toBe("SYMMETRIC_DEFAULT");
    expect(hsm.sessionStats()).toMatchObject({ inUse: 0 });
    expect(logLines.join("")).toContain("CKR_SESSION_HANDLE_INVALID");
    expect(logLines.join("")).not.toMatch(new RegExp(token.hsmConfig.pin.reveal()));
  });
});
