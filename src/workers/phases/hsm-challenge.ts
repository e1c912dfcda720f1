import type { HsmPort, SourceKeyRef } from "../../shared/hsm/types.js";
import type { KeySpec, KeyUsage } from "../../shared/key-specs.js";
import type { HsmChallenge } from "../../shared/migration.js";
import type { PhaseContext } from "./context.js";

/**
 * The HSM's answer that verify compares KMS with, for a key only the HSM can speak for: an HMAC key is proven
 * by KMS GenerateMac equal to the HSM's HMAC over the same random message. It must be asked on an HSM host,
 * and preflight always runs on one before create: so even a KMS key that create adopts (made and imported by
 * an earlier campaign, or before the ledger was lost), for which wrap never runs, can be proven. Undefined for
 * keys proven another way (public key, AES round trip).
 */
export async function hmacChallenge(
  ctx: Pick<PhaseContext, "randomBytes">,
  hsm: HsmPort,
  ref: SourceKeyRef,
  key: { keySpec: KeySpec; keyUsage: KeyUsage },
): Promise<HsmChallenge | undefined> {
  if (key.keyUsage !== "GENERATE_VERIFY_MAC") return undefined;
  const message = ctx.randomBytes(32);
  return {
    kind: "hmac",
    messageB64: message.toString("base64"),
    expectedB64: (await hsm.hmac(ref, message, key.keySpec)).toString("base64"),
  };
}
