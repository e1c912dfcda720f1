import type { KeyRecord, Tag } from "./key-record.js";
import type { KeyStore } from "./key-store.js";

/** Delay before a tag change shows in GetResources: fixed, or uniform in [min, max] milliseconds. */
export type TagIndexDelay = number | [number, number];

interface Entry {
  region: string;
  keyId: string;
  /** What GetResources shows now; undefined until the key's first tags reach the index. */
  visible: Tag[] | undefined;
  /** The latest change, and when the index will show it. */
  pending: { tags: Tag[]; at: number } | undefined;
  /** The key was deleted: the index forgets it at this time. */
  forgetAt: number | undefined;
}

export interface IndexedKey {
  region: string;
  keyId: string;
  tags: Tag[];
}

/**
 * The Resource Groups Tagging API's view of KMS keys: a copy of each key's tags that catches up with a
 * change (a new key's tags included) only after a random delay, as AWS's tag index is eventually
 * consistent. Keys deleted from the store stay listed for one more delay. The Resource Groups Tagging API
 * Reference says GetResources returns resources "tagged or previously tagged": a key whose tags were all
 * removed stays in the index with an empty tag set.
 */
export class TagIndex {
  private readonly entries = new Map<string, Entry>();
  /** GetResources pagination tokens: opaque ids of where the next page starts, for the same query. */
  readonly pages = new Map<string, { query: string; offset: number; expiresAt: number }>();

  constructor(
    private readonly delay: TagIndexDelay,
    private readonly now: () => number = Date.now,
  ) {}

  private delayMs(): number {
    if (typeof this.delay === "number") return this.delay;
    const [min, max] = this.delay;
    return min + Math.random() * (max - min);
  }

  private entry(key: Pick<KeyRecord, "region" | "keyId">): Entry {
    const id = `${key.region}\n${key.keyId}`;
    let entry = this.entries.get(id);
    if (!entry) {
      entry = {
        region: key.region,
        keyId: key.keyId,
        visible: undefined,
        pending: undefined,
        forgetAt: undefined,
      };
      this.entries.set(id, entry);
    }
    return entry;
  }

  /** A key was created or its tags changed just now: the index shows its tags after a delay. */
  changed(key: KeyRecord): void {
    const entry = this.entry(key);
    entry.pending = { tags: key.tags.map((tag) => ({ ...tag })), at: this.now() + this.delayMs() };
  }

  /** A key that has been there all along (seeded, or loaded from a state file): visible at once. */
  settled(key: KeyRecord): void {
    const entry = this.entry(key);
    entry.visible = key.tags.map((tag) => ({ ...tag }));
    entry.pending = undefined;
  }

  /** The keys of `region` as the index shows them now, in a stable order. */
  view(region: string, store: KeyStore): IndexedKey[] {
    store.keys(region); // applies what time did (deletions whose date passed)
    // Every key that exists, seen by other calls or not yet: the tag index catches up on its own clock, not on
    // KMS's (a key can be listed here before DescribeKey finds it).
    const live = new Set(store.region(region).keys.keys());
    const now = this.now();
    const shown: IndexedKey[] = [];
    for (const [id, entry] of this.entries) {
      if (entry.region !== region) continue;
      if (entry.pending && entry.pending.at <= now) {
        entry.visible = entry.pending.tags;
        entry.pending = undefined;
      }
      if (!live.has(entry.keyId)) {
        entry.forgetAt ??= now + this.delayMs();
        if (entry.forgetAt <= now) {
          this.entries.delete(id);
          continue;
        }
      }
      if (entry.visible) shown.push({ region, keyId: entry.keyId, tags: entry.visible });
    }
    return shown;
  }
}
