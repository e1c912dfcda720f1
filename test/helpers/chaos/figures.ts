/** What a reliability suite saw, printed as one block at its end (the numbers that must be zero included). */
export class Figures {
  trials = 0;
  readonly faults: Record<string, number> = {};
  keysMigrated = 0;
  keysFailed = 0;
  /** Keys that ended neither migrated nor failed with a reason, or vanished from the ledger. */
  keysLost = 0;
  duplicateKmsKeys = 0;
  orphanKmsKeys = 0;
  /** KMS keys a lost attempt made that hsm2kms itself scheduled for deletion (not orphans: cleaned up). */
  orphansCleanedUp = 0;
  leftoverHsmObjects = 0;
  secretOccurrences = 0;
  tokenRefreshes = 0;
  readonly notes: string[] = [];

  constructor(private readonly suite: string) {}

  fault(kind: string, count = 1): void {
    if (count > 0) this.faults[kind] = (this.faults[kind] ?? 0) + count;
  }

  print(): void {
    const faults = Object.entries(this.faults)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([kind, count]) => `${kind}=${count}`)
      .join(", ");
    console.info(
      [
        `── figures: ${this.suite} ──`,
        `trials run:                ${this.trials}`,
        `faults injected:           ${faults || "none"}`,
        `keys migrated:             ${this.keysMigrated}`,
        `keys failed (with reason): ${this.keysFailed}`,
        `token refreshes:           ${this.tokenRefreshes}`,
        `keys lost:                 ${this.keysLost}`,
        `duplicate KMS keys:        ${this.duplicateKmsKeys}`,
        `orphan KMS keys:           ${this.orphanKmsKeys}`,
        `orphans cleaned up:        ${this.orphansCleanedUp}`,
        `leftover HSM objects:      ${this.leftoverHsmObjects}`,
        `secret occurrences found:  ${this.secretOccurrences}`,
        ...this.notes,
      ].join("\n"),
    );
  }
}
