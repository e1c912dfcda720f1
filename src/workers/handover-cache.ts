import type { StoredRecord } from "../shared/ledger/index.js";
import { isInFlight, type MigrationRecord, type PhaseName } from "../shared/migration.js";

/** Records kept at most, and for how long: enough for the keys in flight between phases of one process. */
const MAX_ENTRIES = 2000;
const MAX_AGE_MS = 30_000;

/**
 * The records this process has just handed over to a next phase, as it saved them: when that phase's job
 * runs in the same process (one fleet serves every phase), it starts from this copy instead of reading the
 * ledger again, one Redis round trip less per phase. A copy is used once, only by the job it was handed
 * over to (same phase and generation), and only while young; anything else reads the ledger.
 *
 * Why a copy is safe: it carries the revision it was saved at, and a phase's first write is a
 * compare-and-set on that revision, so if anything changed the record meanwhile (another worker, `retry`,
 * an abandoned job failed) the save fails (LedgerConflictError), the job is retried, and the retry reads
 * the ledger. Before its first write a phase only reads, or calls KMS and the HSM in ways its idempotence
 * already covers for a repeated job (architecture.md, Handover and crash safety).
 */
export class HandoverCache {
  private readonly entries = new Map<string, { stored: StoredRecord; at: number }>();

  constructor(
    private readonly now: () => number = () => performance.now(),
    private readonly maxEntries = MAX_ENTRIES,
    private readonly maxAgeMs = MAX_AGE_MS,
  ) {}

  /** Remembers `record`, saved at revision `rev`, whose current phase's job was just added. */
  remember(record: MigrationRecord, rev: number): void {
    const at = this.now();
    this.entries.delete(record.id);
    this.entries.set(record.id, { stored: { record, rev }, at });
    // Insertion order is age order: drop the oldest beyond the cap, and every stale one.
    for (const [id, entry] of this.entries) {
      if (this.entries.size <= this.maxEntries && at - entry.at <= this.maxAgeMs) break;
      this.entries.delete(id);
    }
  }

  /**
   * The record handed over to the job of `phase` and `generation` for key `id`, forgotten as it is taken;
   * undefined when there is none, it is too old, or it was handed to another job (then read the ledger).
   */
  take(id: string, phase: PhaseName, generation: number): StoredRecord | undefined {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    this.entries.delete(id);
    const { record } = entry.stored;
    if (!isInFlight(record) || record.phase !== phase || record.generation !== generation) return undefined;
    return this.now() - entry.at <= this.maxAgeMs ? entry.stored : undefined;
  }

  /** Records held now. */
  get size(): number {
    return this.entries.size;
  }
}
