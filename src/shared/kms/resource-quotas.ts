/**
 * AWS KMS resource quotas (how many of a thing an account may hold), as opposed to request quotas (how fast
 * it may ask). From the AWS KMS Developer Guide, "Resource quotas": exceeding one makes the request that
 * would create one more resource fail with LimitExceededException. Every one is adjustable in Service Quotas
 * (AWS KMS) except on-demand rotation; none lifts by waiting.
 */
export interface KmsResourceQuota {
  /** The quota's name as AWS's page and the Service Quotas console give it. */
  name: string;
  /** AWS's default value per account and Region. */
  defaultValue: number;
  /** What to do about it. */
  fix: string;
}

const KMS_KEYS: KmsResourceQuota = {
  name: "AWS KMS keys",
  defaultValue: 100_000,
  fix: "keys pending deletion count too: delete unused keys, or raise the quota",
};

const ALIASES_PER_KEY: KmsResourceQuota = {
  name: "Aliases per KMS key",
  defaultValue: 50,
  fix: "delete unused aliases of that key, or raise the quota",
};

const GRANTS_PER_KEY: KmsResourceQuota = {
  name: "Grants per KMS key",
  defaultValue: 50_000,
  fix: "retire unused grants of that key, or raise the quota",
};

/** Which resource quota a LimitExceededException to an operation means. */
const QUOTA_OF_OPERATION: Readonly<Record<string, KmsResourceQuota>> = {
  CreateKey: KMS_KEYS,
  ReplicateKey: KMS_KEYS,
  CreateAlias: ALIASES_PER_KEY,
  UpdateAlias: ALIASES_PER_KEY,
  CreateGrant: GRANTS_PER_KEY,
};

/** The resource quota behind a LimitExceededException answered to `operation`. */
export function resourceQuotaOf(operation: string): KmsResourceQuota {
  return (
    QUOTA_OF_OPERATION[operation] ?? {
      name: `the AWS KMS resource quota that limits ${operation}`,
      defaultValue: Number.NaN,
      fix: "see Resource quotas in the AWS KMS Developer Guide",
    }
  );
}

/** Operations that create a KMS key: the ones hsm2kms stops sending in a Region whose key quota is full. */
export const KEY_CREATING_OPERATIONS: ReadonlySet<string> = new Set(["CreateKey", "ReplicateKey"]);

/** The message of a resource-quota failure: the quota, its Region, and how to raise it. */
export function resourceQuotaMessage(operation: string, region: string): string {
  const quota = resourceQuotaOf(operation);
  const defaults = Number.isFinite(quota.defaultValue)
    ? ` (AWS default ${quota.defaultValue.toLocaleString("en-US")})`
    : "";
  return (
    `the account is at its AWS KMS resource quota "${quota.name}"${defaults} in ${region}: ${quota.fix} ` +
    `(Service Quotas console > AWS Key Management Service (AWS KMS) > "${quota.name}", Region ${region}), ` +
    "then `hsm2kms retry --failed`"
  );
}
