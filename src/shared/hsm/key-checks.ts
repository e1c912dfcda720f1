import pkcs11js from "pkcs11js";
import { fatal } from "../errors.js";
import { type KeySpec, keySpecInfo } from "../key-specs.js";
import { readAttribute } from "./attributes.js";
import { asOperationError } from "./pkcs11-errors.js";
import type { Handle } from "./pkcs11-library.js";
import { ecPublicPoint } from "./spki.js";
import { destroyAll, type WrapSession } from "./wrap.js";

const HMAC_MECHANISMS = {
  sha224: pkcs11js.CKM_SHA224_HMAC,
  sha256: pkcs11js.CKM_SHA256_HMAC,
  sha384: pkcs11js.CKM_SHA384_HMAC,
  sha512: pkcs11js.CKM_SHA512_HMAC,
} as const;

/**
 * HMAC of `message` with an HMAC source key, in the HSM, with the hash of `keySpec` (a 28-byte key needs
 * CKM_SHA224_HMAC: SoftHSM2 refuses it with SHA-256 as CKR_KEY_SIZE_RANGE).
 */
export async function hsmHmac(
  { pkcs11, session }: WrapSession,
  key: { handle: Handle; subject: string },
  keySpec: KeySpec,
  message: Buffer,
): Promise<Buffer> {
  const info = keySpecInfo(keySpec);
  if (info.family !== "HMAC" || !info.hash)
    throw fatal("KEY_USAGE_INVALID", `${key.subject}: HMAC needs an HMAC key, this one is ${keySpec}`);
  const mechanism = HMAC_MECHANISMS[info.hash];
  let signing = false;
  try {
    pkcs11.C_SignInit(session, { mechanism }, key.handle);
    signing = true;
    return Buffer.from(await pkcs11.C_SignAsync(session, message, Buffer.alloc(64)));
  } catch (error) {
    // A C_Sign refused before it reached the token (pkcs11js checks its arguments) leaves the signing
    // operation active, and the pooled session would answer CKR_OPERATION_ACTIVE to the next key: end it with
    // a throwaway C_Sign, which terminates the operation whatever it returns (PKCS #11 v3.0 Base, C_Sign).
    if (signing)
      try {
        pkcs11.C_Sign(session, Buffer.alloc(1), Buffer.alloc(64));
      } catch {
        // Ended either way.
      }
    throw asOperationError(error, `C_Sign ${info.macAlgorithm ?? ""}`.trim(), key.subject);
  }
}

/**
 * ECDH (CKM_ECDH1_DERIVE, no KDF) between an EC source key and a peer public key, in the HSM. The shared
 * secret lands in a non-sensitive session key whose value is read once and destroyed: it is derived material
 * for verification, never the source key.
 */
export async function hsmSharedSecret(
  { pkcs11, session, logger }: WrapSession,
  key: { handle: Handle; subject: string },
  peerPublicKeyDer: Buffer,
): Promise<Buffer> {
  let point: Buffer;
  try {
    point = ecPublicPoint(peerPublicKeyDer).point;
  } catch (error) {
    throw fatal(
      "PEER_KEY_INVALID",
      `the ECDH peer key is not an EC SubjectPublicKeyInfo (${(error as Error).message})`,
    );
  }
  const fieldBytes = (point.length - 1) / 2;
  const derived: Handle[] = [];
  try {
    const secret = await pkcs11.C_DeriveKeyAsync(
      session,
      {
        mechanism: pkcs11js.CKM_ECDH1_DERIVE,
        parameter: {
          type: pkcs11js.CK_PARAMS_EC_DH,
          kdf: pkcs11js.CKD_NULL,
          publicData: point,
        } as pkcs11js.ECDH1,
      },
      key.handle,
      [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
        { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_GENERIC_SECRET },
        { type: pkcs11js.CKA_TOKEN, value: false },
        { type: pkcs11js.CKA_SENSITIVE, value: false },
        { type: pkcs11js.CKA_EXTRACTABLE, value: true },
        { type: pkcs11js.CKA_VALUE_LEN, value: fieldBytes },
      ],
    );
    derived.push(secret);
    const value = readAttribute(pkcs11, session, secret, pkcs11js.CKA_VALUE);
    if (!value?.length)
      throw fatal(
        "HSM_MECHANISM_UNAVAILABLE",
        `${key.subject}: the token derived an ECDH secret but will not show its value`,
      );
    return value;
  } catch (error) {
    throw asOperationError(error, "C_DeriveKey CKM_ECDH1_DERIVE", key.subject);
  } finally {
    destroyAll(pkcs11, session, derived, logger);
  }
}
