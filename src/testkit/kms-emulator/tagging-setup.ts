import { defaultKeyPolicy } from "./key-policy.js";
import type { KeyStore } from "./key-store.js";
import type { ResolvedOptions } from "./options.js";
import { seedRegion } from "./seed.js";
import { TagIndex } from "./tag-index.js";

/**
 * The tag index of a store: keys already there (loaded from a state file) are indexed at once, and every
 * Region first touched from now on starts with `seedKeys` unrelated keys, indexed at once too (they have
 * been there all along).
 */
export function prepareTagging(store: KeyStore, options: ResolvedOptions): TagIndex {
  const index = new TagIndex(options.tagIndexDelayMs);
  for (const region of store.regions.values()) for (const key of region.keys.values()) index.settled(key);
  if (options.seedKeys > 0) {
    const policy = defaultKeyPolicy(store.accountId);
    store.onRegionCreated = (name, state) => {
      const started = performance.now();
      for (const key of seedRegion(name, state, options.seedKeys, policy, Date.now())) index.settled(key);
      options.logger.info(
        { region: name, keys: options.seedKeys, ms: Math.round(performance.now() - started) },
        "kms-emulator: Region seeded with unrelated keys",
      );
    };
  }
  return index;
}
