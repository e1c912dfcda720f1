import type { KmsQuotas } from "../shared/kms-quotas.js";
import { serviceQuotaName } from "./service-quotas.js";
import type { GroupWorkload } from "./workload.js";

/**
 * Wraps per second one HSM host is assumed to sustain when HSM2KMS_HSM_WRAP_RATE is not set and the plan
 * does not measure: a deliberately cautious figure for a network HSM (a wrap is five PKCS#11 calls on
 * CloudHSM: import the wrapping key, generate the AES key, two C_WrapKey, destroy), far below what SoftHSM2
 * does locally (a few ms per wrap: BENCHMARKS.md, hsm-search). Measure it on a host with `plan --measure-hsm`.
 */
export const DEFAULT_HSM_WRAP_RATE = 5;

/** Where the HSM hosts' wrap rate came from. */
export type WrapRateSource = "default" | "HSM2KMS_HSM_WRAP_RATE" | "measured";

/** The HSM side of the fleet as the plan assumes it. */
export interface HsmFleet {
  /** HSM client hosts running the wrap phase (`plan --hosts`). */
  hosts: number;
  /** Wraps per second one host sustains (all its sessions together). */
  wrapRatePerHost: number;
  source: WrapRateSource;
}

export interface PlanInputs {
  groups: readonly GroupWorkload[];
  /** Requests per second per operation, per account and Region (HSM2KMS_KMS_QUOTAS over AWS's defaults). */
  quotas: KmsQuotas;
  /** The role assumed in each account (HSM2KMS_ACCOUNTS_FILE). */
  roles?: ReadonlyMap<string, { roleArn: string }> | undefined;
  hsm: HsmFleet;
  /** The campaign must finish within this many seconds (`plan --deadline`). */
  deadlineSeconds?: number | undefined;
}

/** One operation's share of a group: its requests, its quota and the time they take at that quota. */
export interface OperationLoad {
  operation: string;
  requests: number;
  /** Requests per second. */
  quota: number;
  seconds: number;
}

/** A quota a group needs raised to meet the deadline. */
export interface QuotaIncrease {
  operation: string;
  /** The configured quota (requests per second). */
  quota: number;
  /** The least quota (whole requests per second) that meets the deadline. */
  needed: number;
  /** The quota's name in Service Quotas (AWS Key Management Service), per account and Region. */
  quotaName: string;
}

export interface GroupPlan {
  /** The target account; null: the caller's own. */
  account: string | null;
  /**
   * How the account is reached: the role HSM2KMS_ACCOUNTS_FILE names, null for the caller's own credentials
   * (no account column, or an account the file does not list: those credentials must then be that account's).
   */
  roleArn: string | null;
  region: string;
  keys: number;
  replicas: number;
  /** Every paced operation, in the order of OPERATION_ORDER. */
  operations: OperationLoad[];
  /** The operation that takes longest at its quota: it sets the group's pace. */
  bottleneck: OperationLoad;
  /** The group's time at its quotas (its bottleneck's). */
  seconds: number;
  /** Set with a deadline: whether the group finishes within it at the configured quotas. */
  meetsDeadline?: boolean;
  /** With a deadline, every quota the group needs raised (bottleneck first); empty when it meets it. */
  increases: QuotaIncrease[];
}

export interface CampaignPlan {
  groups: GroupPlan[];
  /** Keys of every group: each one wrap on an HSM host. */
  keys: number;
  /** The slowest group's time at its quotas: the campaign's time if the HSM keeps up. */
  kmsSeconds: number;
  hsm: HsmFleet & {
    /** hosts × wrapRatePerHost. */
    fleetWrapRate: number;
    /** Every key's wrap at the fleet's rate. */
    seconds: number;
    /**
     * HSM hosts whose wrap rate covers every group running at once at its pace (with a deadline: the pace
     * that meets it), so that no group waits for the HSM: the HSM is then off the critical path.
     */
    hostsNeeded: number;
    /** Keys per second the groups ask of the HSM together while all run (the figure hostsNeeded covers). */
    peakDemand: number;
  };
  /** Estimated time of the whole campaign: the longer of the KMS and HSM sides. */
  etaSeconds: number;
  /** Which side sets the ETA; "hsm" also when the hosts are fewer than hostsNeeded (the ETA is then a floor). */
  boundBy: "kms" | "hsm";
  deadline?: {
    seconds: number;
    /** The whole campaign fits at the configured quotas and hosts. */
    met: boolean;
    /** Groups that miss it at the configured quotas. */
    groupsMissing: number;
    /** The HSM side (with the given hosts) fits within it. */
    hsmMeets: boolean;
  };
}

/** The operations a campaign spends, scarcest-first at AWS's defaults: ties in time go to the first. */
export const OPERATION_ORDER = [
  "GetParametersForImport",
  "CreateKey",
  "ReplicateKey",
  "CreateAlias",
  "ImportKeyMaterial",
  "Sign",
] as const;

/** The least whole number ≥ x, tolerant of floating-point dust (3 / 0.1 is 30.000000000000004). */
function ceilWhole(x: number): number {
  return Math.ceil(x - 1e-9);
}

function planGroup(
  group: GroupWorkload,
  quotas: KmsQuotas,
  deadline: number | undefined,
  roleArn: string | null,
): GroupPlan {
  const operations: OperationLoad[] = [];
  for (const operation of OPERATION_ORDER) {
    const requests = group.requests[operation] ?? 0;
    const quota = quotas[operation];
    if (requests === 0 || quota === undefined) continue;
    operations.push({ operation, requests, quota, seconds: requests / quota });
  }
  const bottleneck = operations.reduce((worst, load) => (load.seconds > worst.seconds ? load : worst));
  const plan: GroupPlan = {
    account: group.account ?? null,
    roleArn,
    region: group.region,
    keys: group.keys,
    replicas: group.replicas,
    operations,
    bottleneck,
    seconds: bottleneck.seconds,
    increases: [],
  };
  if (deadline !== undefined) {
    plan.meetsDeadline = bottleneck.seconds <= deadline;
    plan.increases = operations
      .filter((load) => load.seconds > deadline)
      .sort((a, b) => b.seconds - a.seconds)
      .map((load) => ({
        operation: load.operation,
        quota: load.quota,
        needed: ceilWhole(load.requests / deadline),
        quotaName: serviceQuotaName(load.operation),
      }));
  }
  return plan;
}

/**
 * The campaign's figures: per group (account and Region, whose quotas are independent of every other
 * group's) the time at its quotas and its bottleneck; the HSM side at the fleet's wrap rate; the ETA; and
 * with a deadline, the groups that miss it and the quotas each needs.
 */
export function planCampaign(inputs: PlanInputs): CampaignPlan {
  const deadline = inputs.deadlineSeconds;
  const groups = inputs.groups.map((group) =>
    planGroup(
      group,
      inputs.quotas,
      deadline,
      (group.account === undefined ? undefined : inputs.roles?.get(group.account)?.roleArn) ?? null,
    ),
  );
  const keys = groups.reduce((sum, group) => sum + group.keys, 0);
  const kmsSeconds = Math.max(0, ...groups.map((group) => group.seconds));
  const { hosts, wrapRatePerHost } = inputs.hsm;
  const fleetWrapRate = hosts * wrapRatePerHost;
  const hsmSeconds = keys / fleetWrapRate;
  // Each group runs at its own pace (with a deadline, at least the pace that meets it); the HSM must feed
  // all of them at once, or the groups wait for wraps.
  const peakDemand = groups.reduce((sum, group) => {
    const seconds = deadline === undefined ? group.seconds : Math.min(group.seconds, deadline);
    return sum + (seconds > 0 ? group.keys / seconds : 0);
  }, 0);
  const hostsNeeded = Math.max(1, ceilWhole(peakDemand / wrapRatePerHost));
  const etaSeconds = Math.max(kmsSeconds, hsmSeconds);
  const plan: CampaignPlan = {
    groups,
    keys,
    kmsSeconds,
    hsm: { ...inputs.hsm, fleetWrapRate, seconds: hsmSeconds, hostsNeeded, peakDemand },
    etaSeconds,
    boundBy: hsmSeconds > kmsSeconds || hosts < hostsNeeded ? "hsm" : "kms",
  };
  if (deadline !== undefined)
    plan.deadline = {
      seconds: deadline,
      met: etaSeconds <= deadline && groups.every((group) => group.meetsDeadline),
      groupsMissing: groups.filter((group) => !group.meetsDeadline).length,
      hsmMeets: hsmSeconds <= deadline,
    };
  return plan;
}
