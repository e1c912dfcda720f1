/**
 * Where a key goes in KMS: an AWS account and a Region. KMS request quotas hold per account and Region (AWS
 * KMS Developer Guide, "Quotas": each quota is calculated independently for each Region of each account), so
 * each target has its own phase queues, with their own fleet-wide rate limits, and its own KMS ports.
 */
export interface KmsTarget {
  /** The 12-digit account (manifest column `account`); undefined: the caller's own. */
  account?: string | undefined;
  region: string;
}

/** An AWS account id. Region names start with a letter, so `<account>-<region>` parses back unambiguously. */
const ACCOUNT_AND_REGION = /^(\d{12})-(.+)$/;

/** A target given as a bare Region is the caller's own account in that Region. */
export function toTarget(target: KmsTarget | string): KmsTarget {
  return typeof target === "string" ? { region: target } : target;
}

/** The target of a record (or a row): its account (if any) and Region. */
export function targetOf(record: { account?: string | undefined; region: string }): KmsTarget {
  return record.account === undefined
    ? { region: record.region }
    : { account: record.account, region: record.region };
}

/**
 * A target's name in queue names: the Region for the caller's own account (the names earlier versions used,
 * so a running campaign keeps its queues across an upgrade), `<account>-<region>` for another account.
 */
export function targetName(target: KmsTarget | string): string {
  const { account, region } = toTarget(target);
  return account === undefined ? region : `${account}-${region}`;
}

/** The target a name of {@link targetName} stands for. */
export function parseTargetName(name: string): KmsTarget {
  const match = ACCOUNT_AND_REGION.exec(name);
  return match ? { account: match[1], region: match[2]! } : { region: name };
}

/** How a target is named in messages and logs: `us-east-1`, or `account 222222222222, us-east-1`. */
export function describeTarget(target: KmsTarget | string): string {
  const { account, region } = toTarget(target);
  return account === undefined ? region : `account ${account}, ${region}`;
}

/**
 * The account an ARN names: its fifth field (AWS General Reference, "Amazon Resource Names (ARNs)":
 * `arn:partition:service:region:account-id:resource`); undefined when it has none.
 */
export function accountOfArn(arn: string): string | undefined {
  return arn.split(":")[4] || undefined;
}
