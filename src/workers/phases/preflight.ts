import { fatal } from "../../shared/errors.js";
import type { SourceKeyDescription } from "../../shared/hsm/types.js";
import { chooseWrapPlan } from "../../shared/hsm/wrap-plan.js";
import { type KeySpec, type KeyUsage, keySpecInfo } from "../../shared/key-specs.js";
import { describeSource, type MigrationRecord } from "../../shared/migration.js";
import type { Phase } from "./context.js";
import { hmacChallenge } from "./hsm-challenge.js";

/**
 * The key_spec to migrate as: the HSM's, or the manifest's if it agrees. An HMAC key may be imported as a
 * shorter HMAC spec (KMS takes material at least the spec's length, at most 1024 bits).
 */
function resolveKeySpec(record: MigrationRecord, key: SourceKeyDescription): KeySpec {
  const who = describeSource(record.source);
  if (!key.keySpec)
    throw fatal(
      "UNSUPPORTED_KEY_TYPE",
      `${who}: KMS cannot import this key: ${key.unsupportedReason ?? key.keyType}`,
    );
  const asked = record.request.keySpec;
  if (!asked || asked === key.keySpec) return key.keySpec;
  const askedInfo = keySpecInfo(asked);
  if (
    askedInfo.family === "HMAC" &&
    keySpecInfo(key.keySpec).family === "HMAC" &&
    (key.secretBytes ?? 0) * 8 >= askedInfo.bits
  )
    return asked;
  throw fatal(
    "KEY_SPEC_MISMATCH",
    `${who}: the manifest says key_spec ${asked} but the HSM key is ${key.keySpec}; fix the key_spec column or leave it empty to infer it`,
  );
}

function resolveKeyUsage(record: MigrationRecord, spec: KeySpec): KeyUsage {
  const info = keySpecInfo(spec);
  const usage = record.request.keyUsage ?? info.defaultUsage;
  if (!info.usages.includes(usage))
    throw fatal(
      "KEY_USAGE_INVALID",
      `${describeSource(record.source)}: key_usage ${usage} is not valid for ${spec}; expected one of ${info.usages.join(", ")}`,
    );
  return usage;
}

/**
 * preflight (HSM host): find the key (exactly one), check that it can be migrated, infer or check its
 * KeySpec and usage, choose the wrapping algorithm this token supports, record the public key, and for an
 * HMAC key the HSM's MAC of a random message (what verify proves the KMS key against, wrapped or adopted).
 * Fails the key before any KMS key exists when it cannot be migrated.
 */
export const preflight: Phase = async (ctx, record) => {
  const hsm = ctx.hsm();
  const key = await hsm.describeKey(record.source);
  const who = describeSource(record.source);
  const keySpec = resolveKeySpec(record, key);
  const keyUsage = resolveKeyUsage(record, keySpec);
  if (!key.extractable)
    throw fatal(
      "SOURCE_KEY_NOT_EXTRACTABLE",
      `${who}: CKA_EXTRACTABLE is false, so the HSM will not wrap it and PKCS#11 cannot turn it back on; this key cannot be imported into KMS (create a new KMS key and re-key instead)`,
    );
  if (key.wrapWithTrusted)
    throw fatal(
      "SOURCE_KEY_WRAP_WITH_TRUSTED",
      `${who}: CKA_WRAP_WITH_TRUSTED is set, so only a CKA_TRUSTED wrapping key may wrap it and KMS's wrapping key cannot be marked trusted by hsm2kms; have the HSM security officer clear it or trust-import the KMS wrapping key`,
    );
  const plan = chooseWrapPlan(keySpec, await hsm.capabilities(), ctx.settings.wrappingKeySpec);
  if ("unsupported" in plan) throw fatal("NO_WRAPPING_PATH", `${who}: ${plan.unsupported}`);
  const hsmChallenge = await hmacChallenge(
    ctx,
    hsm,
    { label: key.label, idHex: key.idHex },
    { keySpec, keyUsage },
  );
  return {
    patch: {
      sourceKey: {
        label: key.label,
        idHex: key.idHex,
        keyType: key.keyType,
        objectClass: key.objectClass,
        keySpec,
        keyUsage,
        fingerprint: key.fingerprint,
        publicKeySpkiB64: key.publicKeySpkiDer?.toString("base64"),
        secretBytes: key.secretBytes,
      },
      wrapPlan: plan,
      hsmChallenge,
    },
    next: "create",
  };
};
