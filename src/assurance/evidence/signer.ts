import { createPublicKey, type KeyObject } from "node:crypto";
import { ConfigError } from "../../shared/errors.js";
import type { KmsPort } from "../../shared/kms/types.js";
import { packSigningAlgorithm } from "./signatures.js";

/** Signs a pack's manifest: a KMS asymmetric SIGN_VERIFY key, checked before anything is written. */
export interface PackSigner {
  keyArn: string;
  algorithm: string;
  /** DER SubjectPublicKeyInfo from KMS GetPublicKey. */
  publicKeySpki: Buffer;
  publicKey: KeyObject;
  /** KMS Sign with MessageType DIGEST: `digest` is the manifest's digest under the algorithm's hash. */
  signDigest(digest: Buffer): Promise<Buffer>;
}

/** The Region named by a KMS key ARN (`arn:aws:kms:<region>:<account>:key/...`), if `keyRef` is one. */
export function regionOfKeyArn(keyRef: string): string | undefined {
  return /^arn:aws[a-z-]*:kms:([a-z0-9-]+):\d{12}:(key|alias)\//.exec(keyRef)?.[1];
}

/**
 * The signer for `--sign-with KEY` (key id, ARN, alias name or alias ARN): the key must exist, be Enabled, be
 * an RSA or ECC SIGN_VERIFY key. Anything else is a usage error, raised before the pack is written.
 */
export async function kmsPackSigner(kms: KmsPort, keyRef: string): Promise<PackSigner> {
  const what = `--sign-with ${keyRef}`;
  const key = await kms.describeKey(keyRef);
  if (!key) throw new ConfigError(`${what}: no such KMS key in ${kms.region}`);
  if (key.keyUsage !== "SIGN_VERIFY")
    throw new ConfigError(`${what}: key usage is ${key.keyUsage ?? "unknown"}; expected SIGN_VERIFY`);
  const algorithm = packSigningAlgorithm(key.keySpec);
  if (!algorithm)
    throw new ConfigError(
      `${what}: key spec ${key.keySpec ?? "unknown"} cannot sign a pack; expected RSA or ECC`,
    );
  if (key.keyState !== "Enabled")
    throw new ConfigError(`${what}: the key is ${key.keyState}; expected Enabled`);
  const publicKeySpki = await kms.getPublicKey(key.arn);
  return {
    keyArn: key.arn,
    algorithm,
    publicKeySpki,
    publicKey: createPublicKey({ key: publicKeySpki, format: "der", type: "spki" }),
    signDigest: (digest) => kms.sign(key.arn, digest, algorithm, "DIGEST"),
  };
}
