import { execFile } from "node:child_process";
import { createCipheriv, type KeyObject } from "node:crypto";
import { promisify } from "node:util";
import pkcs11js from "pkcs11js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { newKeyPair } from "../../src/shared/crypto/key-pairs.js";
import { unwrapKeyMaterial } from "../../src/shared/crypto/kms-wrap.js";
import { findSourceKey } from "../../src/shared/hsm/find.js";
import { acquireLibrary, chooseWrapPlan, openPkcs11Hsm } from "../../src/shared/hsm/index.js";
import type { Pkcs11 } from "../../src/shared/hsm/pkcs11-library.js";
import { findToken } from "../../src/shared/hsm/token.js";
import type { HsmPort, WrapPlan } from "../../src/shared/hsm/types.js";
import { createTestToken, type TestToken, withTokenSession } from "../helpers/softhsm.js";

const P = pkcs11js;
const run = promisify(execFile);

let token: TestToken;
let hsm: HsmPort;
let lease: ReturnType<typeof acquireLibrary>;
let wrapping: { publicDer: Buffer; privateKey: KeyObject };
let aesPlan: WrapPlan;

/**
 * Counts this process's PKCS#11 searches (C_FindObjectsInit) and attribute reads, by wrapping the shared
 * library object's methods. `failReads` makes the next reads fail as PKCS#11 does for a handle that is gone;
 * `reused` makes a handle name another object until the next search, as a token that gave a deleted key's
 * handle to another object would.
 */
function countCalls(pkcs11: Pkcs11) {
  const counts = { searches: 0, reads: 0, failReads: 0 };
  const reused = new Map<string, Buffer>();
  const originals = { init: pkcs11.C_FindObjectsInit, read: pkcs11.C_GetAttributeValue };
  const target = pkcs11 as unknown as Record<string, unknown>;
  target["C_FindObjectsInit"] = (...args: Parameters<Pkcs11["C_FindObjectsInit"]>) => {
    counts.searches += 1;
    reused.clear();
    return originals.init.apply(pkcs11, args);
  };
  target["C_GetAttributeValue"] = (...args: Parameters<Pkcs11["C_GetAttributeValue"]>) => {
    counts.reads += 1;
    if (counts.failReads > 0) {
      counts.failReads -= 1;
      throw new Error("CKR_OBJECT_HANDLE_INVALID");
    }
    const [session, handle, template] = args;
    return originals.read.call(pkcs11, session, reused.get(handle.toString("hex")) ?? handle, template);
  };
  return {
    counts,
    reused,
    reset: () => {
      Object.assign(counts, { searches: 0, reads: 0, failReads: 0 });
      reused.clear();
    },
    restore: () => {
      delete target["C_FindObjectsInit"];
      delete target["C_GetAttributeValue"];
    },
  };
}
let calls: ReturnType<typeof countCalls>;
/** Searches of one listing: private, secret and public key objects. */
const LISTING = 3;

const aesTemplate = (label: string, idHex: string) => [
  { type: P.CKA_TOKEN, value: true },
  { type: P.CKA_LABEL, value: label },
  { type: P.CKA_ID, value: Buffer.from(idHex, "hex") },
  { type: P.CKA_VALUE_LEN, value: 32 },
  { type: P.CKA_EXTRACTABLE, value: true },
  { type: P.CKA_SENSITIVE, value: true },
];

const addAesKey = (label: string, idHex: string) =>
  withTokenSession(token.env, (pkcs11, session) =>
    pkcs11.C_GenerateKey(session, { mechanism: P.CKM_AES_KEY_GEN }, aesTemplate(label, idHex)),
  );

/**
 * Deletes every object labelled `label` and makes a new AES-256 key under the same label and id, in another
 * process (as an operator would with their own tool): this process only learns of it through the token.
 */
async function replaceInOtherProcess(label: string, idHex: string): Promise<void> {
  const script = `
    import pkcs11js from "pkcs11js";
    import { readFileSync } from "node:fs";
    const p = new pkcs11js.PKCS11();
    p.load(process.env.HSM2KMS_PKCS11_LIB);
    p.C_Initialize();
    const slot = p.C_GetSlotList(true).find((s) => p.C_GetTokenInfo(s).label.trim() === process.env.HSM2KMS_TOKEN_LABEL);
    const s = p.C_OpenSession(slot, pkcs11js.CKF_RW_SESSION | pkcs11js.CKF_SERIAL_SESSION);
    p.C_Login(s, pkcs11js.CKU_USER, readFileSync(process.env.HSM2KMS_PKCS11_PIN_FILE, "utf8").trim());
    p.C_FindObjectsInit(s, [{ type: pkcs11js.CKA_LABEL, value: ${JSON.stringify(label)} }]);
    const found = p.C_FindObjects(s, 16);
    p.C_FindObjectsFinal(s);
    for (const handle of found) p.C_DestroyObject(s, handle);
    p.C_GenerateKey(s, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, ${JSON.stringify(
      aesTemplate(label, idHex).map(({ type, value }) => ({
        type,
        value: Buffer.isBuffer(value) ? { hex: value.toString("hex") } : value,
      })),
    )}.map(({ type, value }) => ({ type, value: value && value.hex !== undefined ? Buffer.from(value.hex, "hex") : value })));
    p.C_Finalize();`;
  await run(process.execPath, ["--input-type=module", "-e", script], {
    env: { ...process.env, ...token.env },
    cwd: process.cwd(),
  });
}

/** SoftHSM2's AES check value of raw key material (what describeKey's `kcv:` fingerprint holds). */
const kcvOf = (material: Buffer) =>
  `kcv:${createCipheriv("aes-256-ecb", material, null).update(Buffer.alloc(16)).subarray(0, 3).toString("hex")}`;

beforeAll(async () => {
  [token, wrapping] = await Promise.all([
    createTestToken({ keys: ["sample-ec-p256", "sample-aes-256", "sample-hmac-224"] }),
    newKeyPair({ type: "rsa", modulusLength: 2048 }).then(({ publicKey, privateKey }) => ({
      publicDer: publicKey.export({ format: "der", type: "spki" }),
      privateKey,
    })),
  ]);
  await addAesKey("twin-aes", "7a01");
  await addAesKey("twin-aes", "7a02");
  hsm = await openPkcs11Hsm(token.hsmConfig, { sessions: 2, indexRefreshIntervalMs: 0 });
  const plan = chooseWrapPlan("SYMMETRIC_DEFAULT", await hsm.capabilities(), "RSA_2048");
  if ("unsupported" in plan) throw new Error(plan.unsupported);
  aesPlan = plan;
  lease = acquireLibrary(token.hsmConfig.library);
  calls = countCalls(lease.pkcs11);
});

afterEach(() => calls?.reset());

afterAll(async () => {
  calls?.restore();
  lease?.release();
  await hsm?.close();
  await token?.cleanup();
});

describe("the token index (SoftHSM2)", () => {
  it("resolves keys with one listing and no search per call, confirming each handle", async () => {
    await hsm.describeKey({ label: "sample-aes-256" });
    expect(calls.counts.searches).toBeLessThanOrEqual(LISTING);
    calls.reset();
    const ec = await hsm.describeKey({ label: "sample-ec-p256" });
    const aes = await hsm.describeKey({ idHex: "5a0021" });
    await hsm.describeKey({ label: "sample-hmac-224", idHex: "5a0031" });
    const ciphertext = await hsm.wrapKey(
      { label: aes.label, idHex: aes.idHex },
      { wrappingPublicKeyDer: wrapping.publicDer, plan: aesPlan, expectedFingerprint: aes.fingerprint },
    );
    await hsm.hmac({ label: "sample-hmac-224" }, Buffer.from("challenge"));
    expect(calls.counts).toMatchObject({ searches: 0 });
    expect(calls.counts.reads).toBeGreaterThan(0);
    expect(ec.publicKeySpkiDer?.length).toBeGreaterThan(0);
    expect(kcvOf(unwrapKeyMaterial(aesPlan.wrappingAlgorithm, wrapping.privateKey, ciphertext))).toBe(
      aes.fingerprint,
    );
  });

  it("finds a key created after the index was listed, listing the token once more", async () => {
    await hsm.describeKey({ label: "sample-aes-256" });
    await addAesKey("added-later", "ad01");
    calls.reset();
    expect(await hsm.describeKey({ label: "added-later" })).toMatchObject({ idHex: "ad01" });
    expect(calls.counts.searches).toBe(LISTING);
    calls.reset();
    await hsm.describeKey({ label: "added-later" });
    expect(calls.counts.searches).toBe(0);
  });

  it("never confuses a key deleted and re-created under the same label by another process", async () => {
    await addAesKey("replaced", "4e01");
    const before = await hsm.describeKey({ label: "replaced" });
    await replaceInOtherProcess("replaced", "4e01");
    calls.reset();
    // The wrap phase's check: the key preflight saw is gone, and its successor is not wrapped in its place.
    await expect(
      hsm.wrapKey(
        { label: "replaced", idHex: "4e01" },
        { wrappingPublicKeyDer: wrapping.publicDer, plan: aesPlan, expectedFingerprint: before.fingerprint },
      ),
    ).rejects.toMatchObject({ code: "SOURCE_KEY_CHANGED" });
    expect(calls.counts.searches).toBe(LISTING);
    const after = await hsm.describeKey({ label: "replaced" });
    expect(after.fingerprint).not.toBe(before.fingerprint);
    const ciphertext = await hsm.wrapKey(
      { label: "replaced", idHex: "4e01" },
      { wrappingPublicKeyDer: wrapping.publicDer, plan: aesPlan, expectedFingerprint: after.fingerprint },
    );
    expect(kcvOf(unwrapKeyMaterial(aesPlan.wrappingAlgorithm, wrapping.privateKey, ciphertext))).toBe(
      after.fingerprint,
    );
  });

  it("reports two keys under one label exactly as a search of the token does", async () => {
    const searched = await withTokenSession(token.env, (pkcs11, session) => {
      try {
        findSourceKey(pkcs11, session, { label: "twin-aes" }, token.label);
      } catch (error) {
        return error;
      }
      throw new Error("findSourceKey found one twin");
    });
    calls.reset();
    const indexed = await hsm.describeKey({ label: "twin-aes" }).catch((error: unknown) => error);
    expect(calls.counts.searches).toBe(0);
    expect(indexed).toMatchObject({ code: "SOURCE_KEY_AMBIGUOUS", kind: "fatal" });
    expect(indexed).toEqual(searched);
    expect((indexed as { details?: unknown }).details).toEqual((searched as { details?: unknown }).details);
    expect((await hsm.describeKey({ label: "twin-aes", idHex: "7a02" })).idHex).toBe("7a02");
  });

  it("lists the token again when a handle is refused (CKR_OBJECT_HANDLE_INVALID) and uses the new one", async () => {
    await hsm.describeKey({ label: "sample-aes-256" });
    calls.reset();
    calls.counts.failReads = 1;
    expect(await hsm.describeKey({ label: "sample-aes-256" })).toMatchObject({ idHex: "5a0021" });
    expect(calls.counts.searches).toBe(LISTING);
  });

  it("never describes another key that took over a listed handle: the handle is confirmed first", async () => {
    const real = await hsm.describeKey({ label: "sample-aes-256" });
    const [own, other] = await withTokenSession(token.env, (pkcs11, session) =>
      ["sample-aes-256", "twin-aes"].map((label) =>
        findSourceKey(pkcs11, session, { label, ...(label === "twin-aes" ? { idHex: "7a01" } : {}) }, "t"),
      ),
    );
    calls.reset();
    calls.reused.set(own!.handle.toString("hex"), other!.handle);
    expect(await hsm.describeKey({ label: "sample-aes-256" })).toEqual(real);
    expect(calls.counts.searches).toBe(LISTING);
  });

  it("answers SOURCE_KEY_NOT_FOUND for a key deleted since the listing, after one listing", async () => {
    const handle = await addAesKey("deleted", "de01");
    await hsm.describeKey({ label: "deleted" });
    await withTokenSession(token.env, (pkcs11, session) => pkcs11.C_DestroyObject(session, handle));
    calls.reset();
    await expect(hsm.describeKey({ label: "deleted" })).rejects.toMatchObject({
      code: "SOURCE_KEY_NOT_FOUND",
      message: `no private or secret key with label "deleted" on token "${token.label}"`,
    });
    expect(calls.counts.searches).toBe(LISTING);
  });

  it("lists the token again after the pool logs in again (handles may all have changed)", async () => {
    await hsm.describeKey({ label: "sample-aes-256" });
    lease.pkcs11.C_CloseAllSessions(findToken(lease.pkcs11, { tokenLabel: token.label }).slot);
    calls.reset();
    expect(await hsm.describeKey({ label: "sample-hmac-224" })).toMatchObject({ idHex: "5a0031" });
    expect(calls.counts.searches).toBe(LISTING);
  });

  it("inventory is one listing, whatever the number of keys", async () => {
    calls.reset();
    const keys = await hsm.listKeys();
    expect(keys.length).toBeGreaterThanOrEqual(5);
    expect(keys.find((key) => key.label === "sample-ec-p256")?.keySpec).toBe("ECC_NIST_P256");
    expect(calls.counts.searches).toBe(LISTING);
  });

  it("answers a storm of lookups for absent keys with one listing per interval, not one per lookup", async () => {
    const paced = await openPkcs11Hsm(token.hsmConfig, { sessions: 2, indexRefreshIntervalMs: 300 });
    try {
      await paced.describeKey({ label: "sample-aes-256" });
      calls.reset();
      const lookups = Array.from({ length: 16 }, (_, n) => paced.describeKey({ label: `absent-${n}` }));
      const outcomes = await Promise.allSettled(lookups);
      expect(outcomes.map((outcome) => outcome.status === "rejected" && outcome.reason.code)).toEqual(
        Array(16).fill("SOURCE_KEY_NOT_FOUND"),
      );
      expect(calls.counts.searches).toBeGreaterThanOrEqual(LISTING);
      expect(calls.counts.searches).toBeLessThanOrEqual(2 * LISTING);
    } finally {
      await paced.close();
    }
  });
});
