import type { Ledger } from "../shared/ledger/index.js";
import type { PhaseQueues } from "../shared/queues.js";

/** Failures no retry can cure: the key, the manifest or the KMS key must change first. */
export const PERMANENT_FAILURES = new Set([
  "SOURCE_KEY_NOT_EXTRACTABLE",
  "SOURCE_KEY_WRAP_WITH_TRUSTED",
  "UNSUPPORTED_KEY_TYPE",
  "KEY_SPEC_MISMATCH",
  "KEY_USAGE_INVALID",
  "NO_WRAPPING_PATH",
  "VERIFICATION_FAILED",
  "ADOPTED_KEY_MISMATCH",
  "KMS_KEY_PENDING_DELETION",
  // `hsm2kms abandon` scheduled the KMS key for deletion on purpose: a retry would migrate it again.
  "ABANDONED",
]);

export interface RetryResult {
  requeued: number;
  skipped: Array<{ id: string; source: string; region: string; code: string }>;
}

/**
 * Puts failed keys back at preflight with a new generation (so their jobs get new ids). Every phase is
 * idempotent, so a key that failed late finds its KMS key again instead of creating another.
 */
export async function requeueFailed(
  ledger: Ledger,
  queues: PhaseQueues,
  options: { includePermanent: boolean; now?: () => Date },
): Promise<RetryResult> {
  const now = options.now ?? (() => new Date());
  const result: RetryResult = { requeued: 0, skipped: [] };
  // Re-read from the start each round: requeued ids leave the failed set.
  let offset = 0;
  for (;;) {
    const ids = await ledger.failedIds(offset, 200);
    if (ids.length === 0) return result;
    for (const stored of await ledger.getMany(ids)) {
      if (stored?.record.status !== "failed") {
        offset++;
        continue;
      }
      const { record, rev } = stored;
      const code = record.error?.code ?? "";
      if (PERMANENT_FAILURES.has(code) && !options.includePermanent) {
        result.skipped.push({
          id: record.id,
          source: record.source.label ?? record.source.idHex ?? "",
          region: record.region,
          code,
        });
        offset++;
        continue;
      }
      const requeued = {
        ...record,
        status: "queued" as const,
        phase: "preflight" as const,
        generation: record.generation + 1,
        phaseAttempts: 0,
        error: undefined,
        completedAt: undefined,
        updatedAt: now().toISOString(),
      };
      await ledger.save(requeued, rev);
      await queues.addFor(requeued);
      result.requeued++;
    }
  }
}
