import type { RequestContext } from "./context.js";
import { KmsError } from "./errors.js";

/**
 * KMS resource quotas, from the AWS KMS Developer Guide, "Resource quotas": "AWS KMS keys" (100,000 per
 * account and Region by default, counting every customer managed key "regardless of its key spec or key
 * state", so keys pending deletion too) and "Aliases per KMS key" (50). Exceeding one makes the request
 * that would create the extra resource fail with LimitExceededException.
 */
export const AWS_DEFAULT_MAX_KEYS = 100_000;
export const ALIASES_PER_KEY = 50;

/** CreateKey and ReplicateKey: the Region must have room for one more key. */
export function requireRoomForKey(ctx: RequestContext, region: string): void {
  const held = ctx.store.region(region).keys.size;
  if (held >= ctx.maxKeysPerRegion)
    throw new KmsError(
      "LimitExceededException",
      `The request was rejected because a quota was exceeded: this account holds ${held} KMS keys in ${region} (quota: ${ctx.maxKeysPerRegion}).`,
    );
}

/** CreateAlias and UpdateAlias: the target key must have fewer than 50 aliases. */
export function requireRoomForAlias(ctx: RequestContext, keyId: string): void {
  let count = 0;
  for (const alias of ctx.store.region(ctx.region).aliases.values()) if (alias.targetKeyId === keyId) count++;
  if (count >= ALIASES_PER_KEY)
    throw new KmsError(
      "LimitExceededException",
      `The request was rejected because a quota was exceeded: KMS key ${keyId} already has ${count} aliases (quota: ${ALIASES_PER_KEY}).`,
    );
}
