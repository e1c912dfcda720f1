import type { Config } from "../shared/config.js";
import type { RequestPace } from "../shared/kms/index.js";
import { HSM_PHASES, PHASES, type PhaseName } from "../shared/migration.js";
import { pacedOperation, phaseLimiter } from "../shared/queues.js";

/**
 * How each KMS port of a worker spaces the requests that pace a phase: at the pace of that phase's fleet-wide
 * limiter (the same burst and mean interval), so the calls leave as evenly spaced as the job starts were meant
 * to be, and never slower than the limiter lets them (see RequestPacer).
 */
export function requestPacesOf(
  config: Pick<Config, "kmsQuotas" | "paramsOnHsmHost">,
): Record<string, RequestPace> {
  const paces: Record<string, RequestPace> = {};
  for (const phase of PHASES) {
    const operation = pacedOperation(phase, config.paramsOnHsmHost);
    const limiter = phaseLimiter(phase, config.kmsQuotas, config.paramsOnHsmHost);
    if (operation && limiter)
      paces[operation] = { burst: limiter.max, intervalMs: limiter.duration / limiter.max };
  }
  return paces;
}

/**
 * Jobs one worker process runs at once in a phase's queue. KMS phases run `HSM2KMS_KMS_CONCURRENCY`, HSM
 * phases as many as the HSM has sessions (`HSM2KMS_HSM_CONCURRENCY`), except wrap when it fetches its own
 * import parameters (`HSM2KMS_PARAMS_ON_HSM_HOST`): each of its jobs then also waits on DescribeKey and
 * GetParametersForImport, holding no session meanwhile, so with only as many jobs as sessions the HSM sat idle
 * while they waited and the quota was missed (0.66 of it at 10/s). It gets the KMS phases' concurrency on top;
 * its HSM calls stay bounded by the sessions (HsmSlots), and its GetParametersForImport calls by the limiter.
 */
export function phaseConcurrency(
  phase: PhaseName,
  config: Pick<Config, "hsmConcurrency" | "kmsConcurrency" | "paramsOnHsmHost">,
): number {
  if (!HSM_PHASES.includes(phase)) return config.kmsConcurrency;
  if (phase === "wrap" && config.paramsOnHsmHost) return config.hsmConcurrency + config.kmsConcurrency;
  return config.hsmConcurrency;
}
