import pkcs11js from "pkcs11js";
import { findObjects } from "../shared/hsm/attributes.js";
import type { Handle, Pkcs11 } from "../shared/hsm/pkcs11-library.js";
import { SAMPLE_KEYS, type SampleKey, type SampleKeyName } from "./sample-keys.js";

type Template = pkcs11js.Template;

function names(key: SampleKey): Template {
  return [
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_LABEL, value: key.label },
    { type: pkcs11js.CKA_ID, value: Buffer.from(key.idHex, "hex") },
  ];
}

function privatePart(key: SampleKey, usage: Template): Template {
  return [
    ...names(key),
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: key.extractable },
    ...usage,
  ];
}

/** Whether the token already holds this sample key (a private or secret key with its label and id). */
export function sampleKeyExists(pkcs11: Pkcs11, session: Handle, key: SampleKey): boolean {
  return [pkcs11js.CKO_PRIVATE_KEY, pkcs11js.CKO_SECRET_KEY].some(
    (objectClass) =>
      findObjects(pkcs11, session, [{ type: pkcs11js.CKA_CLASS, value: objectClass }, ...names(key).slice(1)])
        .length > 0,
  );
}

/** Generates one sample key as token objects, inside the HSM: its material never exists outside it. */
export async function generateSampleKey(pkcs11: Pkcs11, session: Handle, name: SampleKeyName): Promise<void> {
  await generateKey(pkcs11, session, SAMPLE_KEYS[name]);
}

/** Generates a key described like a sample key (any label and id), inside the HSM, as token objects. */
export async function generateKey(pkcs11: Pkcs11, session: Handle, key: SampleKey): Promise<void> {
  const on = (type: number) => ({ type, value: true });
  switch (key.kind.type) {
    case "ec":
      await pkcs11.C_GenerateKeyPairAsync(
        session,
        { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
        [
          ...names(key),
          { type: pkcs11js.CKA_PRIVATE, value: false },
          { type: pkcs11js.CKA_EC_PARAMS, value: Buffer.from(key.kind.curveOidDerHex, "hex") },
          on(pkcs11js.CKA_VERIFY),
        ],
        privatePart(key, [on(pkcs11js.CKA_SIGN), on(pkcs11js.CKA_DERIVE)]),
      );
      return;
    case "rsa": {
      const encrypt = key.defaultUsage === "ENCRYPT_DECRYPT";
      await pkcs11.C_GenerateKeyPairAsync(
        session,
        { mechanism: pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN },
        [
          ...names(key),
          { type: pkcs11js.CKA_PRIVATE, value: false },
          { type: pkcs11js.CKA_MODULUS_BITS, value: key.kind.bits },
          { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
          on(encrypt ? pkcs11js.CKA_ENCRYPT : pkcs11js.CKA_VERIFY),
        ],
        privatePart(key, [on(encrypt ? pkcs11js.CKA_DECRYPT : pkcs11js.CKA_SIGN)]),
      );
      return;
    }
    case "aes":
    case "hmac": {
      const aes = key.kind.type === "aes";
      await pkcs11.C_GenerateKeyAsync(
        session,
        { mechanism: aes ? pkcs11js.CKM_AES_KEY_GEN : pkcs11js.CKM_GENERIC_SECRET_KEY_GEN },
        privatePart(key, [
          { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
          { type: pkcs11js.CKA_KEY_TYPE, value: aes ? pkcs11js.CKK_AES : pkcs11js.CKK_GENERIC_SECRET },
          { type: pkcs11js.CKA_VALUE_LEN, value: key.kind.bytes },
          ...(aes
            ? [on(pkcs11js.CKA_ENCRYPT), on(pkcs11js.CKA_DECRYPT)]
            : [on(pkcs11js.CKA_SIGN), on(pkcs11js.CKA_VERIFY)]),
        ]),
      );
      return;
    }
  }
}
