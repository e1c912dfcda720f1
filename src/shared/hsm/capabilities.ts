import { createECDH, createPublicKey, type KeyObject } from "node:crypto";
import pkcs11js from "pkcs11js";
import { newKeyPair } from "../crypto/key-pairs.js";
import { unwrapKeyMaterial } from "../crypto/kms-wrap.js";
import { CURVES } from "../key-specs.js";
import { readAttribute } from "./attributes.js";
import { hsmSharedSecret } from "./key-checks.js";
import { CKM_RSA_AES_KEY_WRAP } from "./pkcs11-constants.js";
import { ckrName } from "./pkcs11-errors.js";
import type { Handle } from "./pkcs11-library.js";
import { ecPointFromAttribute, ecSpki, readDer } from "./spki.js";
import type { WrapCapabilities } from "./types.js";
import { destroyAll, importWrappingKey, oaepMechanism, type WrapSession } from "./wrap.js";

type Hash = "sha1" | "sha256";

interface Probe extends WrapSession {
  /** Throwaway objects; all are session objects and all are destroyed when the probe ends. */
  temporary: Handle[];
  wrappingKey: { handle: Handle; bytes: number };
  wrappingPrivateKey: KeyObject;
}

/**
 * What the token can really wrap with, found by doing it: the mechanism list says what exists, but SoftHSM2
 * lists CKM_RSA_PKCS_OAEP and still refuses SHA-256. Every probe wraps throwaway session keys under a
 * throwaway RSA key made in node:crypto (whose private half can check the result), as the real flow does;
 * no migrated key is touched.
 */
export async function probeCapabilities(
  session: WrapSession,
  slot: Handle,
  token: { manufacturer: string; model: string },
): Promise<WrapCapabilities> {
  const { pkcs11, logger } = session;
  const mechanisms = new Set(pkcs11.C_GetMechanismList(slot));
  const offers = (mechanism: number, flag: number) =>
    mechanisms.has(mechanism) && (pkcs11.C_GetMechanismInfo(slot, mechanism).flags & flag) !== 0;
  const { privateKey } = await newKeyPair({ type: "rsa", modulusLength: 2048 });
  const probe: Probe = {
    ...session,
    temporary: [],
    wrappingKey: importWrappingKey(
      pkcs11,
      session.session,
      createPublicKey(privateKey).export({ format: "der", type: "spki" }),
    ),
    wrappingPrivateKey: privateKey,
  };
  probe.temporary.push(probe.wrappingKey.handle);
  try {
    const aesKey = await throwawayAesKey(probe);
    const ecKey = mechanisms.has(pkcs11js.CKM_EC_KEY_PAIR_GEN) ? await throwawayEcKey(probe) : undefined;
    const oaepHashes: Hash[] = [];
    if (offers(pkcs11js.CKM_RSA_PKCS_OAEP, pkcs11js.CKF_WRAP))
      for (const hash of ["sha256", "sha1"] as const)
        if (await attempt(probe, `OAEP ${hash}`, () => oaepWraps(probe, hash, aesKey, 32)))
          oaepHashes.push(hash);
    const bestHash = oaepHashes[0];
    const aesKeyWrapPad =
      offers(pkcs11js.CKM_AES_KEY_WRAP_PAD, pkcs11js.CKF_WRAP) && mechanisms.has(pkcs11js.CKM_AES_KEY_GEN);
    const twoStep =
      aesKeyWrapPad && bestHash && ecKey
        ? await attempt(probe, "two-step", () =>
            twoStepTrailingZeros(probe, bestHash, aesKey, ecKey.privateKey),
          )
        : undefined;
    if (mechanisms.has(CKM_RSA_AES_KEY_WRAP))
      logger.info(
        "the token offers CKM_RSA_AES_KEY_WRAP, but pkcs11js cannot pass its parameters: using the two-step path",
      );
    return {
      oaepHashes,
      // CK_RSA_AES_KEY_WRAP_PARAMS holds a pointer to the OAEP parameters, which pkcs11js 2.1 cannot build.
      rsaAesKeyWrapHashes: [],
      aesKeyWrapPad: aesKeyWrapPad && (twoStep !== undefined || !ecKey),
      kwpZeroPads: (twoStep ?? 0) > 0,
      oaepWrapsPrivateKeys:
        bestHash !== undefined && ecKey !== undefined
          ? ((await attempt(probe, "OAEP of a private key", () =>
              oaepWrapsPkcs8(probe, bestHash, ecKey.privateKey),
            )) ?? false)
          : false,
      ecdh:
        offers(pkcs11js.CKM_ECDH1_DERIVE, pkcs11js.CKF_DERIVE) && ecKey !== undefined
          ? ((await attempt(probe, "ECDH", () => ecdhAgrees(probe, ecKey))) ?? false)
          : false,
      manufacturer: token.manufacturer,
      model: token.model,
    };
  } finally {
    destroyAll(pkcs11, session.session, probe.temporary, logger);
  }
}

async function attempt<T>(probe: Probe, name: string, run: () => Promise<T>): Promise<T | undefined> {
  try {
    return await run();
  } catch (error) {
    probe.logger.debug(
      { probe: name, error: ckrName(error) ?? (error as Error).message },
      "capability probe failed",
    );
    return undefined;
  }
}

async function throwawayAesKey(probe: Probe): Promise<Handle> {
  const key = await probe.pkcs11.C_GenerateKeyAsync(probe.session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
    { type: pkcs11js.CKA_TOKEN, value: false },
    { type: pkcs11js.CKA_LABEL, value: "hsm2kms-probe" },
    { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: true },
    { type: pkcs11js.CKA_WRAP, value: true },
  ]);
  probe.temporary.push(key);
  return key;
}

async function throwawayEcKey(probe: Probe): Promise<{ privateKey: Handle; publicKey: Handle } | undefined> {
  return attempt(probe, "EC key generation", async () => {
    const pair = await probe.pkcs11.C_GenerateKeyPairAsync(
      probe.session,
      { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
      [
        { type: pkcs11js.CKA_TOKEN, value: false },
        { type: pkcs11js.CKA_LABEL, value: "hsm2kms-probe" },
        { type: pkcs11js.CKA_EC_PARAMS, value: Buffer.from(CURVES.P256.oidDerHex, "hex") },
        { type: pkcs11js.CKA_VERIFY, value: true },
      ],
      [
        { type: pkcs11js.CKA_TOKEN, value: false },
        { type: pkcs11js.CKA_LABEL, value: "hsm2kms-probe" },
        { type: pkcs11js.CKA_SENSITIVE, value: true },
        { type: pkcs11js.CKA_EXTRACTABLE, value: true },
        { type: pkcs11js.CKA_SIGN, value: true },
        { type: pkcs11js.CKA_DERIVE, value: true },
      ],
    );
    probe.temporary.push(pair.publicKey, pair.privateKey);
    return pair;
  });
}

const oaepAlgorithm = (hash: Hash) => (hash === "sha256" ? "RSAES_OAEP_SHA_256" : "RSAES_OAEP_SHA_1");
const rsaAesAlgorithm = (hash: Hash) =>
  hash === "sha256" ? "RSA_AES_KEY_WRAP_SHA_256" : "RSA_AES_KEY_WRAP_SHA_1";

async function hsmWrap(
  probe: Probe,
  mechanism: pkcs11js.Mechanism,
  wrappingKey: Handle,
  key: Handle,
  size: number,
) {
  return Buffer.from(
    await probe.pkcs11.C_WrapKeyAsync(probe.session, mechanism, wrappingKey, key, Buffer.alloc(size)),
  );
}

/** OAEP-wraps a throwaway key with `hash` in the HSM and unwraps it with node:crypto. */
async function oaepRoundTrip(probe: Probe, hash: Hash, key: Handle): Promise<Buffer> {
  const wrapped = await hsmWrap(
    probe,
    oaepMechanism(hash),
    probe.wrappingKey.handle,
    key,
    probe.wrappingKey.bytes,
  );
  return unwrapKeyMaterial(oaepAlgorithm(hash), probe.wrappingPrivateKey, wrapped);
}

/** OAEP-wraps a throwaway secret key with `hash`; true when node:crypto decrypts it with the same hash. */
async function oaepWraps(probe: Probe, hash: Hash, key: Handle, expectedBytes: number): Promise<boolean> {
  const material = await oaepRoundTrip(probe, hash, key);
  material.fill(0);
  return material.length === expectedBytes;
}

/** OAEP-wraps a throwaway EC private key directly; true when it decrypts to a DER structure. */
async function oaepWrapsPkcs8(probe: Probe, hash: Hash, key: Handle): Promise<boolean> {
  const material = await oaepRoundTrip(probe, hash, key);
  const isDer = material[0] === 0x30;
  material.fill(0);
  return isDer;
}

/**
 * The two-step path on a throwaway P-256 key (67-byte PKCS#8, not a multiple of 8): returns how many 0x00
 * bytes follow the PKCS#8 structure once unwrapped (SoftHSM2 2.6.1 pads to a multiple of 8 before AES-KWP).
 */
async function twoStepTrailingZeros(
  probe: Probe,
  hash: Hash,
  aesKey: Handle,
  ecKey: Handle,
): Promise<number> {
  const kwp = await hsmWrap(probe, { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD }, aesKey, ecKey, 4096);
  const wrappedAesKey = await hsmWrap(
    probe,
    oaepMechanism(hash),
    probe.wrappingKey.handle,
    aesKey,
    probe.wrappingKey.bytes,
  );
  const pkcs8 = unwrapKeyMaterial(
    rsaAesAlgorithm(hash),
    probe.wrappingPrivateKey,
    Buffer.concat([wrappedAesKey, kwp]),
  );
  const { end } = readDer(pkcs8);
  const trailing = pkcs8.subarray(end);
  if (trailing.some((byte) => byte !== 0))
    throw new Error("the unwrapped PKCS#8 has trailing non-zero bytes");
  return trailing.length;
}

/** ECDH of the throwaway key with a node:crypto peer, in the HSM; true when both sides get the same secret. */
async function ecdhAgrees(probe: Probe, ecKey: { privateKey: Handle; publicKey: Handle }): Promise<boolean> {
  const peer = createECDH(CURVES.P256.nodeName);
  peer.generateKeys();
  const ecParams = Buffer.from(CURVES.P256.oidDerHex, "hex");
  const hsmPoint = readAttribute(probe.pkcs11, probe.session, ecKey.publicKey, pkcs11js.CKA_EC_POINT);
  if (!hsmPoint) return false;
  const secret = await hsmSharedSecret(
    probe,
    { handle: ecKey.privateKey, subject: "capability probe" },
    ecSpki(ecParams, peer.getPublicKey()),
  );
  const expected = peer.computeSecret(ecPointFromAttribute(hsmPoint, CURVES.P256.fieldBytes));
  return secret.equals(expected);
}
