import type { Config } from "../shared/config.js";
import type { RequestPace } from "../shared/kms/index.js";
import { PHASES } from "../shared/migration.js";
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

