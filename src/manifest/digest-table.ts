/**
 * A set of 12-byte digests, each with the manifest line that first gave it: the duplicate check's memory.
 * Open addressing with linear probing over one Uint32Array (four words per slot: the digest's three words
 * and the line; line 0 marks an empty slot, manifest lines start at 1). 16 bytes per slot at a load of at
 * most 0.8: 20-40 bytes per row, where a Map of 12-character strings costs ~70 (measured on Node 20), so a
 * 100k-row manifest holds 2-4 MB per table instead of ~7.
 */
export class DigestTable {
  private slots: Uint32Array;
  private count = 0;

  /** @param capacity initial slots, a power of two. @defaultValue 4096 */
  constructor(capacity = 4096) {
    this.slots = new Uint32Array(capacity * 4);
  }

  /** Digests held. */
  get size(): number {
    return this.count;
  }

  /** The line recorded for `digest`, or undefined. */
  get(digest: Buffer): number | undefined {
    const found = this.find(this.slots, digest);
    return found < 0 ? undefined : this.slots[found + 3];
  }

  /** Records `digest` with `line` (>= 1) unless it is already there; returns the line it holds. */
  add(digest: Buffer, line: number): number {
    if (line < 1) throw new RangeError(`a manifest line is >= 1, not ${line}`);
    // Four words per slot: more than 0.8 of the slots in use is (count + 1) * 5 > words.
    if ((this.count + 1) * 5 > this.slots.length) this.grow();
    const at = this.find(this.slots, digest);
    if (at >= 0) return this.slots[at + 3]!;
    const free = -at - 1;
    this.slots[free] = digest.readUInt32LE(0);
    this.slots[free + 1] = digest.readUInt32LE(4);
    this.slots[free + 2] = digest.readUInt32LE(8);
    this.slots[free + 3] = line;
    this.count++;
    return line;
  }

  /**
   * The word offset of `digest` in `slots` (>= 0), or -(offset of the free slot where it would go) - 1.
   * The digest is a hash already: its first word picks the slot.
   */
  private find(slots: Uint32Array, digest: Buffer): number {
    const mask = slots.length / 4 - 1;
    const a = digest.readUInt32LE(0);
    const b = digest.readUInt32LE(4);
    const c = digest.readUInt32LE(8);
    for (let slot = a & mask; ; slot = (slot + 1) & mask) {
      const at = slot * 4;
      if (slots[at + 3] === 0) return -at - 1;
      if (slots[at] === a && slots[at + 1] === b && slots[at + 2] === c) return at;
    }
  }

  private grow(): void {
    const old = this.slots;
    const next = new Uint32Array(old.length * 2);
    const digest = Buffer.alloc(12);
    for (let at = 0; at < old.length; at += 4) {
      if (old[at + 3] === 0) continue;
      digest.writeUInt32LE(old[at]!, 0);
      digest.writeUInt32LE(old[at + 1]!, 4);
      digest.writeUInt32LE(old[at + 2]!, 8);
      const free = -this.find(next, digest) - 1;
      next.set(old.subarray(at, at + 4), free);
    }
    this.slots = next;
  }
}
