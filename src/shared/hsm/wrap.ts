import pkcs11js from "pkcs11js";
import { fatal } from "../errors.js";
import { type WrappingAlgorithm, wrappingHash } from "../key-specs.js";
import type { Logger } from "../logger.js";
import { CKZ_DATA_SPECIFIED } from "./pkcs11-constants.js";
import { asOperationError } from "./pkcs11-errors.js";
import type { Handle, Pkcs11 } from "./pkcs11-library.js";
import { rsaPublicNumbers } from "./spki.js";
import type { WrapRequest } from "./types.js";

export interface WrapSession {
  pkcs11: Pkcs11;
  session: Handle;
  logger: Logger;
}

/** The source key as the wrap needs it: its handle and how messages name it. */
export interface WrapSource {
  handle: Handle;
  /** E.g. `key "sample-ec-p256"`. */
  subject: string;
  extractable: boolean;
}

/** Room for a PKCS#8 RSA-4096 key after AES-KWP (about 2.4 KB), with margin. */
const KWP_OUTPUT_BYTES = 16_384;

/** CK_RSA_PKCS_OAEP_PARAMS with hash and MGF1 hash alike and no label, as KMS expects. */
export function oaepMechanism(hash: "sha1" | "sha256"): pkcs11js.Mechanism {
  const sha256 = hash === "sha256";
  return {
    mechanism: pkcs11js.CKM_RSA_PKCS_OAEP,
    parameter: {
      type: pkcs11js.CK_PARAMS_RSA_OAEP,
      hashAlg: sha256 ? pkcs11js.CKM_SHA256 : pkcs11js.CKM_SHA_1,
      mgf: sha256 ? pkcs11js.CKG_MGF1_SHA256 : pkcs11js.CKG_MGF1_SHA1,
      source: CKZ_DATA_SPECIFIED,
    } as pkcs11js.RsaOAEP,
  };
}

/**
 * Imports an RSA public key (DER SPKI) as a session object that can only wrap: it never lands on the token,
 * and the session's end destroys it even if nothing else does.
 */
export function importWrappingKey(
  pkcs11: Pkcs11,
  session: Handle,
  spkiDer: Buffer,
): { handle: Handle; bytes: number } {
  let numbers: ReturnType<typeof rsaPublicNumbers>;
  try {
    numbers = rsaPublicNumbers(spkiDer);
  } catch (error) {
    throw fatal(
      "WRAPPING_KEY_INVALID",
      `the KMS wrapping public key is not a DER SubjectPublicKeyInfo of an RSA key (${(error as Error).message})`,
    );
  }
  if (numbers.bits < 2048)
    throw fatal(
      "WRAPPING_KEY_INVALID",
      `the KMS wrapping public key has ${numbers.bits} bits; KMS uses 2048 or more`,
    );
  const template: pkcs11js.Template = [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_RSA },
    { type: pkcs11js.CKA_TOKEN, value: false },
    { type: pkcs11js.CKA_PRIVATE, value: false },
    { type: pkcs11js.CKA_LABEL, value: "hsm2kms-kms-wrapping-key" },
    { type: pkcs11js.CKA_MODULUS, value: numbers.modulus },
    { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: numbers.publicExponent },
    { type: pkcs11js.CKA_WRAP, value: true },
    { type: pkcs11js.CKA_ENCRYPT, value: false },
    { type: pkcs11js.CKA_VERIFY, value: false },
    { type: pkcs11js.CKA_VERIFY_RECOVER, value: false },
    { type: pkcs11js.CKA_DERIVE, value: false },
  ];
  try {
    return { handle: pkcs11.C_CreateObject(session, template), bytes: Math.ceil(numbers.bits / 8) };
  } catch (error) {
    throw asOperationError(error, "C_CreateObject", "the KMS wrapping public key");
  }
}

function checkPlan(algorithm: WrappingAlgorithm, path: WrapRequest["plan"]["hsmPath"]): void {
  const oaep = algorithm.startsWith("RSAES_OAEP");
  if (oaep !== (path === "oaep-direct"))
    throw fatal(
      "WRAP_PLAN_INVALID",
      `wrapping algorithm ${algorithm} cannot be produced by the ${path} path`,
    );
}

/**
 * Wraps the source key for KMS ImportKeyMaterial inside the HSM, following the plan. Every object it creates
 * (the imported wrapping key, the ephemeral AES key) is destroyed before it returns or throws.
 */
export async function wrapKeyForImport(
  { pkcs11, session, logger }: WrapSession,
  source: WrapSource,
  request: WrapRequest,
): Promise<Buffer> {
  const { wrappingAlgorithm, hsmPath } = request.plan;
  checkPlan(wrappingAlgorithm, hsmPath);
  if (!source.extractable)
    throw fatal(
      "SOURCE_KEY_NOT_EXTRACTABLE",
      `${source.subject}: CKA_EXTRACTABLE is false, so the HSM will not wrap it and PKCS#11 cannot turn it back on; it cannot be imported into KMS`,
    );
  const temporary: Handle[] = [];
  const step = async (operation: string, run: () => Promise<Buffer | Handle>): Promise<Buffer> => {
    try {
      // pkcs11js returns a view into its output buffer: copy it before that buffer is reused or freed.
      return Buffer.from(await run());
    } catch (error) {
      throw asOperationError(error, operation, source.subject);
    }
  };
  try {
    const wrappingKey = importWrappingKey(pkcs11, session, request.wrappingPublicKeyDer);
    temporary.push(wrappingKey.handle);
    const oaep = oaepMechanism(wrappingHash(wrappingAlgorithm));
    if (hsmPath === "oaep-direct")
      return await step(`C_WrapKey ${wrappingAlgorithm}`, () =>
        pkcs11.C_WrapKeyAsync(
          session,
          oaep,
          wrappingKey.handle,
          source.handle,
          Buffer.alloc(wrappingKey.bytes),
        ),
      );
    if (hsmPath === "rsa-aes-native")
      throw fatal(
        "HSM_MECHANISM_UNAVAILABLE",
        `${source.subject}: CKM_RSA_AES_KEY_WRAP needs CK_RSA_AES_KEY_WRAP_PARAMS, which pkcs11js cannot pass; use the two-step path`,
      );
    const aesKey = await step("C_GenerateKey (ephemeral AES-256 session key)", () =>
      pkcs11.C_GenerateKeyAsync(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, ephemeralAesTemplate()),
    );
    temporary.push(aesKey);
    const kwp = await step("C_WrapKey CKM_AES_KEY_WRAP_PAD", () =>
      pkcs11.C_WrapKeyAsync(
        session,
        { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD },
        aesKey,
        source.handle,
        Buffer.alloc(KWP_OUTPUT_BYTES),
      ),
    );
    const wrappedAesKey = await step(`C_WrapKey CKM_RSA_PKCS_OAEP (${wrappingAlgorithm})`, () =>
      pkcs11.C_WrapKeyAsync(session, oaep, wrappingKey.handle, aesKey, Buffer.alloc(wrappingKey.bytes)),
    );
    return Buffer.concat([wrappedAesKey, kwp]);
  } finally {
    destroyAll(pkcs11, session, temporary, logger);
  }
}

/** The ephemeral AES-256 key of the two-step path: a session object, sensitive, usable only to wrap. */
function ephemeralAesTemplate(): pkcs11js.Template {
  return [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
    { type: pkcs11js.CKA_TOKEN, value: false },
    { type: pkcs11js.CKA_LABEL, value: "hsm2kms-ephemeral-aes" },
    { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    // Extractable only so that OAEP can wrap it for KMS; it never leaves the HSM in clear.
    { type: pkcs11js.CKA_EXTRACTABLE, value: true },
    { type: pkcs11js.CKA_WRAP, value: true },
    { type: pkcs11js.CKA_UNWRAP, value: false },
    { type: pkcs11js.CKA_ENCRYPT, value: false },
    { type: pkcs11js.CKA_DECRYPT, value: false },
  ];
}

/** Destroys temporary objects, newest first; a failure is logged (the session's end destroys them anyway). */
export function destroyAll(pkcs11: Pkcs11, session: Handle, objects: Handle[], logger: Logger): void {
  for (const object of objects.reverse()) {
    try {
      pkcs11.C_DestroyObject(session, object);
    } catch (error) {
      logger.warn({ error: (error as Error).message }, "could not destroy a temporary HSM session object");
    }
  }
}
