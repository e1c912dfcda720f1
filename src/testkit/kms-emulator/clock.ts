/**
 * The emulator's clock for key state: import token lifetimes, ValidTo of imported material and deletion
 * dates. It runs at the host's pace, ahead of it by an offset that only a test or an operator rehearsing an
 * expiry can move (`advance`, `--clock-offset`, SIGUSR2 with `--clock-step`): never a KMS operation, so no
 * client can reach it.
 *
 * SigV4 request dates are checked against the host's own clock, not this one: a caller signs with its real
 * time, and a jumped clock must not turn every signature into "Signature expired".
 */
export class EmulatorClock {
  private offset: number;

  /** @param offsetMs how far ahead of the host's clock this one starts. @defaultValue 0 */
  constructor(offsetMs = 0) {
    if (!Number.isFinite(offsetMs) || offsetMs < 0)
      throw new RangeError("KMS emulator: clockOffsetMs must be >= 0");
    this.offset = offsetMs;
  }

  /** Milliseconds since the epoch, as the emulator's keys see it. */
  readonly now = (): number => Date.now() + this.offset;

  /** How far ahead of the host's clock this one runs. */
  get offsetMs(): number {
    return this.offset;
  }

  /** Moves the clock forward (never back: a key state cannot be undone by time). */
  advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError("KMS emulator: the clock only moves forward");
    this.offset += ms;
  }
}
