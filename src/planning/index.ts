/** Planning a campaign: its KMS requests per account and Region, its time at the quotas, what a deadline needs. */

export { measureWrapRate, type WrapRateMeasurement } from "./measure-hsm.js";
export {
  type CampaignPlan,
  type GroupPlan,
  type HsmFleet,
  OPERATION_ORDER,
  type OperationLoad,
  planCampaign,
  type QuotaIncrease,
  type WrapRateSource,
} from "./plan.js";
export { CALLER_ACCOUNT, renderPlan } from "./render.js";
export { serviceQuotaName } from "./service-quotas.js";
export { CampaignWorkload, type GroupWorkload, groupKey } from "./workload.js";

/**
 * Wraps per second one HSM host is assumed to sustain when HSM2KMS_HSM_WRAP_RATE is not set and the plan
 * does not measure: a deliberately cautious figure for a network HSM (a wrap is five PKCS#11 calls on
 * CloudHSM: import the wrapping key, generate the AES key, two C_WrapKey, destroy), far below what SoftHSM2
 * does locally (a few ms per wrap: BENCHMARKS.md, hsm-search). Measure it on a host with `plan --measure-hsm`.
 */
export const DEFAULT_HSM_WRAP_RATE = 5;
