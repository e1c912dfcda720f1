import {
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  generateKeyPairSync,
  type KeyObject,
} from "node:crypto";
import { promisify } from "node:util";

/** An RSA or EC key pair to make. */
export type KeyPairSpec = { type: "rsa"; modulusLength: number } | { type: "ec"; namedCurve: string };

export interface KeyPairObjects {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

const generateDer = promisify(generateKeyPair);

function objectsOf(der: { publicKey: Buffer; privateKey: Buffer }): KeyPairObjects {
  return {
    privateKey: createPrivateKey({ key: der.privateKey, format: "der", type: "pkcs8" }),
    publicKey: createPublicKey({ key: der.publicKey, format: "der", type: "spki" }),
  };
}

/**
 * A new key pair as KeyObjects that share nothing with Node's key-generation job. Use this instead of
 * crypto.generateKeyPair(Sync) whenever the KeyObjects are used afterwards. Node 20 can deadlock otherwise: the
 * finished job, when garbage-collected, locks its key's mutex in its destructor, and a KeyObject of that same
 * key holds that mutex while it allocates (asymmetricKeyDetails, export, decrypt), which can trigger exactly
 * that collection. Seen here as a test process hung for good in GetRsaKeyDetail under ~KeyGenJob. Keys parsed
 * back from DER get a mutex of their own.
 */
export function newKeyPairSync(spec: KeyPairSpec): KeyPairObjects {
  const publicKeyEncoding = { type: "spki", format: "der" } as const;
  const privateKeyEncoding = { type: "pkcs8", format: "der" } as const;
  return objectsOf(
    spec.type === "rsa"
      ? generateKeyPairSync("rsa", {
          modulusLength: spec.modulusLength,
          publicKeyEncoding,
          privateKeyEncoding,
        })
      : generateKeyPairSync("ec", { namedCurve: spec.namedCurve, publicKeyEncoding, privateKeyEncoding }),
  );
}

/** newKeyPairSync, generated off the event loop. */
export async function newKeyPair(spec: KeyPairSpec): Promise<KeyPairObjects> {
  const publicKeyEncoding = { type: "spki", format: "der" } as const;
  const privateKeyEncoding = { type: "pkcs8", format: "der" } as const;
  return objectsOf(
    spec.type === "rsa"
      ? await generateDer("rsa", { modulusLength: spec.modulusLength, publicKeyEncoding, privateKeyEncoding })
      : await generateDer("ec", { namedCurve: spec.namedCurve, publicKeyEncoding, privateKeyEncoding }),
  );
}
