/** Planning a campaign: its KMS requests per account and Region, its time at the quotas, what a deadline needs. */

export { measureWrapRate, type WrapRateMeasurement } from "./measure-hsm.js";
export {
  type CampaignPlan,
  DEFAULT_HSM_WRAP_RATE,
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
