import {
  isWrappingAllowed,
  type KeySpec,
  keySpecInfo,
  type WrappingAlgorithm,
  type WrappingKeySpec,
} from "../key-specs.js";
import type { WrapCapabilities, WrapPlan } from "./types.js";

type Hash = "sha1" | "sha256";

/** SHA-256 first; SHA-1 only when the token cannot do SHA-256. */
const HASH_PREFERENCE: readonly Hash[] = ["sha256", "sha1"];

const suffix = (hash: Hash) => (hash === "sha256" ? "SHA_256" : "SHA_1");

function candidatePlans(keySpec: KeySpec, capabilities: WrapCapabilities): WrapPlan[] {
  const family = keySpecInfo(keySpec).family;
  const plans: WrapPlan[] = [];
  for (const hash of HASH_PREFERENCE) {
    const oaep = capabilities.oaepHashes.includes(hash);
    const oaepAlgorithm = `RSAES_OAEP_${suffix(hash)}` as WrappingAlgorithm;
    const rsaAesAlgorithm = `RSA_AES_KEY_WRAP_${suffix(hash)}` as WrappingAlgorithm;
    if (family === "AES" || family === "HMAC") {
      if (oaep) plans.push({ wrappingAlgorithm: oaepAlgorithm, hsmPath: "oaep-direct" });
      continue;
    }
    // EC material is small enough for OAEP, which avoids the AES step, when the token allows it.
    if (family === "EC" && oaep && capabilities.oaepWrapsPrivateKeys === true)
      plans.push({ wrappingAlgorithm: oaepAlgorithm, hsmPath: "oaep-direct" });
    if (capabilities.rsaAesKeyWrapHashes.includes(hash))
      plans.push({ wrappingAlgorithm: rsaAesAlgorithm, hsmPath: "rsa-aes-native" });
    if (oaep && capabilities.aesKeyWrapPad)
      plans.push({ wrappingAlgorithm: rsaAesAlgorithm, hsmPath: "two-step" });
  }
  return plans;
}

/**
 * The best way to wrap a key of `keySpec` for KMS on a token with `capabilities`: RSA private keys by
 * RSA_AES_KEY_WRAP_* (native CKM_RSA_AES_KEY_WRAP, else the two-step path), EC keys by RSAES_OAEP_* only when
 * the token OAEP-wraps private keys (else as RSA), AES and HMAC keys by RSAES_OAEP_* directly; SHA-256
 * preferred, and only what KMS allows for the wrapping key spec.
 *
 * @param wrappingKeySpec the KMS wrapping key spec to be requested. @defaultValue `RSA_2048` (the strictest)
 */
export function chooseWrapPlan(
  keySpec: KeySpec,
  capabilities: WrapCapabilities,
  wrappingKeySpec: WrappingKeySpec = "RSA_2048",
): WrapPlan | { unsupported: string } {
  const plans = candidatePlans(keySpec, capabilities);
  const allowed = plans.find((plan) => isWrappingAllowed(keySpec, plan.wrappingAlgorithm, wrappingKeySpec));
  if (allowed) return allowed;
  const token = `${capabilities.manufacturer} ${capabilities.model}`.trim() || "the token";
  const offered = [
    `OAEP hashes [${capabilities.oaepHashes.join(", ")}]`,
    `CKM_RSA_AES_KEY_WRAP hashes [${capabilities.rsaAesKeyWrapHashes.join(", ")}]`,
    `CKM_AES_KEY_WRAP_PAD ${capabilities.aesKeyWrapPad ? "yes" : "no"}`,
  ].join(", ");
  const refused =
    plans.length > 0
      ? ` (KMS refuses ${plans.map((p) => p.wrappingAlgorithm).join(", ")} with ${wrappingKeySpec})`
      : "";
  return {
    unsupported: `${token} offers no wrapping KMS accepts for ${keySpec}${refused}; the token offers ${offered}`,
  };
}
