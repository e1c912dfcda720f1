import type { Config } from "../shared/config.js";
import type { RetryLimits } from "./outcomes.js";
import type { PhaseSettings } from "./phases/context.js";

/** What the phases read from the configuration (the fleet's workers and `renew` run the same phases). */
export function phaseSettingsOf(config: Config, toolVersion: string): PhaseSettings {
  return {
    tokenSafetyMarginMs: config.tokenSafetyMarginMs,
    deletionWindowDays: config.deletionWindowDays,
    wrappingKeySpec: config.wrappingKeySpec,
    toolVersion,
    campaign: config.queuePrefix,
    paramsOnHsmHost: config.paramsOnHsmHost,
    tagIndexWaitMs: config.tagIndexWaitMs,
  };
}

/** How many times, and how long, a key's errors are retried or waited out (caps from the configuration). */
export function retryLimitsOf(config: Config): RetryLimits {
  return {
    maxAttempts: config.maxAttempts,
    maxTokenRefreshes: config.maxTokenRefreshes,
    tokenSafetyMarginMs: config.tokenSafetyMarginMs,
    paramsOnHsmHost: config.paramsOnHsmHost,
    consistencyWindowMs: config.kmsConsistencyWindowMs,
  };
}
