import { createPublicKey, diffieHellman, type KeyObject } from "node:crypto";
import type { OperationDefinition, RequestContext } from "../context.js";
import { invalidKeyUsage, KmsError, unsupported, validation } from "../errors.js";
import {
  expectedDigestLength,
  privateKeyOf,
  publicKeyDer,
  signWithKey,
  verifyWithKey,
} from "../key-crypto.js";
import { type Input, optionalEnum, requiredBlob, requiredEnum, requiredString } from "../params.js";
import { emulatedSpec } from "../spec-table.js";
import {
  encryptionAlgorithms,
  keyAgreementAlgorithms,
  requireUsable,
  signingAlgorithms,
} from "./key-metadata.js";

const SIGNING_ALGORITHMS = [
  "RSASSA_PSS_SHA_256",
  "RSASSA_PSS_SHA_384",
  "RSASSA_PSS_SHA_512",
  "RSASSA_PKCS1_V1_5_SHA_256",
  "RSASSA_PKCS1_V1_5_SHA_384",
  "RSASSA_PKCS1_V1_5_SHA_512",
  "ECDSA_SHA_256",
  "ECDSA_SHA_384",
  "ECDSA_SHA_512",
  "SM2DSA",
  "ML_DSA_SHAKE_256",
] as const;
const MESSAGE_TYPES = ["RAW", "DIGEST", "EXTERNAL_MU"] as const;

/** Key, message and algorithm of a Sign or Verify request, checked as KMS checks them. */
function signingRequest(ctx: RequestContext, input: Input) {
  const key = ctx.store.resolveKey(ctx.region, requiredString(input, "KeyId"), true);
  const message = requiredBlob(input, "Message");
  const messageType = optionalEnum(input, "MessageType", MESSAGE_TYPES) ?? "RAW";
  const algorithm = requiredEnum(input, "SigningAlgorithm", SIGNING_ALGORITHMS);
  requireUsable(ctx, key, "SIGN_VERIFY");
  if (!signingAlgorithms(key)?.includes(algorithm))
    throw invalidKeyUsage(`Signing algorithm ${algorithm} is not valid for a ${key.keySpec} key.`);
  if (messageType === "EXTERNAL_MU")
    throw validation("MessageType EXTERNAL_MU is only valid for ML-DSA keys.");
  if (messageType === "RAW" && message.length > 4096)
    throw validation("Message must be at most 4096 bytes when MessageType is RAW; send a DIGEST instead.");
  if (messageType === "DIGEST" && message.length !== expectedDigestLength(algorithm))
    throw validation(`Digest is invalid length for algorithm ${algorithm}.`);
  return { key, message, isDigest: messageType === "DIGEST", algorithm };
}

function parsePeerPublicKey(der: Buffer, own: KeyObject): KeyObject {
  let peer: KeyObject;
  try {
    peer = createPublicKey({ key: der, format: "der", type: "spki" });
  } catch {
    throw validation("PublicKey is not a DER-encoded X.509 SubjectPublicKeyInfo.");
  }
  if (
    peer.asymmetricKeyType !== "ec" ||
    peer.asymmetricKeyDetails?.namedCurve !== own.asymmetricKeyDetails?.namedCurve
  )
    throw validation("PublicKey must be on the same curve as the KMS key.");
  return peer;
}

export const signingOperations: Record<string, OperationDefinition> = {
  GetPublicKey: {
    mutates: false,
    run(ctx, input) {
      const key = ctx.store.resolveKey(ctx.region, requiredString(input, "KeyId"), true);
      const family = emulatedSpec(key.keySpec).family;
      if (family === "AES" || family === "HMAC") throw unsupported(`${key.keySpec} keys have no public key.`);
      requireUsable(ctx, key);
      return {
        KeyId: ctx.store.keyArn(key.region, key.keyId),
        PublicKey: publicKeyDer(key).toString("base64"),
        CustomerMasterKeySpec: key.keySpec,
        KeySpec: key.keySpec,
        KeyUsage: key.keyUsage,
        EncryptionAlgorithms: encryptionAlgorithms(key),
        SigningAlgorithms: signingAlgorithms(key),
        KeyAgreementAlgorithms: keyAgreementAlgorithms(key),
      };
    },
  },
  Sign: {
    mutates: false,
    run(ctx, input) {
      const { key, message, isDigest, algorithm } = signingRequest(ctx, input);
      return {
        KeyId: ctx.store.keyArn(key.region, key.keyId),
        Signature: signWithKey(key, algorithm, message, isDigest).toString("base64"),
        SigningAlgorithm: algorithm,
      };
    },
  },
  Verify: {
    mutates: false,
    run(ctx, input) {
      const { key, message, isDigest, algorithm } = signingRequest(ctx, input);
      const signature = requiredBlob(input, "Signature", { max: 6144 });
      if (!verifyWithKey(key, algorithm, message, isDigest, signature))
        throw new KmsError("KMSInvalidSignatureException", "The signature is not valid.");
      return {
        KeyId: ctx.store.keyArn(key.region, key.keyId),
        SignatureValid: true,
        SigningAlgorithm: algorithm,
      };
    },
  },
  DeriveSharedSecret: {
    mutates: false,
    run(ctx, input) {
      const key = ctx.store.resolveKey(ctx.region, requiredString(input, "KeyId"), true);
      const algorithm = requiredEnum(input, "KeyAgreementAlgorithm", ["ECDH"] as const);
      const peerDer = requiredBlob(input, "PublicKey", { max: 8192 });
      requireUsable(ctx, key, "KEY_AGREEMENT");
      const privateKey = privateKeyOf(key);
      const sharedSecret = diffieHellman({ privateKey, publicKey: parsePeerPublicKey(peerDer, privateKey) });
      return {
        KeyId: ctx.store.keyArn(key.region, key.keyId),
        SharedSecret: sharedSecret.toString("base64"),
        KeyAgreementAlgorithm: algorithm,
        KeyOrigin: key.origin,
      };
    },
  },
};
