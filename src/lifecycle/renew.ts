import type { Ledger } from "../shared/ledger/index.js";
import type { RetryLimits } from "../workers/outcomes.js";
import type { PhaseContext } from "../workers/phases/index.js";
import { hasExpiringMaterial, type RenewLine, type RenewRequest, renewKey } from "./renew-key.js";

export { MAX_VALID_FOR_MS, type RenewLine, type RenewRequest } from "./renew-key.js";

/**
 * `hsm2kms renew`: looks at every migrated key whose material expires and renews, in turn, those due within
 * `beforeMs` (or already expired), each claimed in the ledger under `holder` so that a scheduled renewal
 * running meanwhile on a worker never renews the same key at once.
 */
export async function renewExpiringMaterial(
  ledger: Ledger,
  context: Omit<PhaseContext, "checkpoint">,
  limits: RetryLimits,
  request: RenewRequest,
  onLine: (line: RenewLine) => void,
  holder = `renew-${process.pid}-${Date.now()}`,
): Promise<RenewLine[]> {
  const lines: RenewLine[] = [];
  for await (const record of ledger.records()) {
    if (!hasExpiringMaterial(record)) continue;
    const line = await renewKey({ ledger, context, limits }, record.id, request, holder);
    if (!line) continue;
    lines.push(line);
    onLine(line);
  }
  return lines;
}
