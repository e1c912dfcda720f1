import { errorCodeEntry } from "../shared/error-codes.js";
import type { Ledger } from "../shared/ledger/index.js";
import type { PhaseQueues } from "../shared/queues.js";
/**
 * Whether `retry --failed` may re-queue a key that failed with `code`: the error-code table says (curable
 * unless the source key, the manifest row or the KMS key must change first). A code the table does not know
 * (written by another release) is re-queued, as every phase is idempotent.
 */
export function curableByRetry(code: string): boolean {
  return errorCodeEntry(code)?.curableByRetry ?? true;
}

export interface RetryResult {
  requeued: number;
  /** Keys left failed: their code and the table's hint, the fix to make before `--all`. */
  skipped: Array<{ id: string; source: string; region: string; code: string; hint: string }>;
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
      if (!curableByRetry(code) && !options.includePermanent) {
        result.skipped.push({
          id: record.id,
          source: record.source.label ?? record.source.idHex ?? "",
          region: record.region,
          code,
          hint: errorCodeEntry(code)?.hint ?? "",
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
