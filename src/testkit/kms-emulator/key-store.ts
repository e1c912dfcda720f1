import { notFound } from "./errors.js";
import type { AliasRecord, ImportTokenRecord, KeyRecord, KeyState, PendingChange } from "./key-record.js";

/** The keys and aliases of one Region. */
export interface RegionState {
  keys: Map<string, KeyRecord>;
  aliases: Map<string, AliasRecord>;
}

const ARN = /^arn:aws[a-z-]*:kms:([a-z0-9-]+):(\d{12}):(key|alias)\/(.+)$/;

/**
 * Every Region's keys and aliases, plus the outstanding import tokens. Time-driven transitions (material
 * that expired, deletion dates that passed) are applied lazily whenever a key is looked up.
 *
 * Eventual consistency is one mechanism here: a change (new key, alias, import, replica) carries the time it
 * becomes visible, and until then every lookup through this store sees the state before it. Code that reads
 * keys or aliases for a caller goes through `keys`, `aliases`, `resolveKey`, `visibleAlias` and `apparentState`.
 */
export class KeyStore {
  readonly regions = new Map<string, RegionState>();
  readonly tokens = new Map<string, ImportTokenRecord>();
  /** Called when a Region is first touched (e.g. to fill it with seeded keys). */
  onRegionCreated: ((name: string, state: RegionState) => void) | undefined;
  /**
   * Longest delay before other calls see a change; each change draws its own, uniform in [0, this].
   * @defaultValue 0 (every change is seen at once)
   */
  consistencyDelayMs = 0;
  /** Source of the consistency delays, in [0, 1). @defaultValue Math.random */
  random: () => number = Math.random;

  constructor(
    readonly accountId: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** When a change made now becomes visible, or undefined when it is visible at once. */
  private visibleAt(): number | undefined {
    if (this.consistencyDelayMs <= 0) return undefined;
    return this.now() + Math.round(this.random() * this.consistencyDelayMs);
  }

  /** The pending change to record on a key whose state just moved on from `before` (`absent`: it is new). */
  pendingChange(before: PendingChange["before"]): PendingChange | undefined {
    const visibleAt = this.visibleAt();
    return visibleAt === undefined ? undefined : { visibleAt, before };
  }

  /** When a new alias becomes visible (undefined: at once). */
  aliasVisibleAt(): number | undefined {
    return this.visibleAt();
  }

  /** The key state callers see: the state before a change they cannot see yet, else the real one. */
  apparentState(key: KeyRecord): KeyState {
    const pending = key.pendingChange;
    if (pending && pending.before !== "absent" && this.now() < pending.visibleAt) return pending.before;
    return key.keyState;
  }

  private isVisible(key: KeyRecord): boolean {
    const pending = key.pendingChange;
    return !(pending && pending.before === "absent" && this.now() < pending.visibleAt);
  }

  /** An alias by name as callers see it: undefined while it is new and not yet visible. */
  visibleAlias(region: string, aliasName: string): AliasRecord | undefined {
    this.keys(region);
    const alias = this.region(region).aliases.get(aliasName);
    if (!alias || (alias.visibleAt !== undefined && this.now() < alias.visibleAt)) return undefined;
    return alias;
  }

  region(name: string): RegionState {
    let state = this.regions.get(name);
    if (!state) {
      state = { keys: new Map(), aliases: new Map() };
      this.regions.set(name, state);
      this.onRegionCreated?.(name, state);
    }
    return state;
  }

  keyArn(region: string, keyId: string): string {
    return `arn:aws:kms:${region}:${this.accountId}:key/${keyId}`;
  }

  aliasArn(region: string, aliasName: string): string {
    return `arn:aws:kms:${region}:${this.accountId}:${aliasName}`;
  }

  /** The live keys of a Region that callers can see, oldest first. */
  keys(region: string): KeyRecord[] {
    const state = this.region(region);
    return [...state.keys.values()].filter(
      (key) => this.applyTimeTransitions(state, key) && this.isVisible(key),
    );
  }

  /** The aliases of a Region that callers can see. */
  aliases(region: string): AliasRecord[] {
    this.keys(region);
    const now = this.now();
    return [...this.region(region).aliases.values()].filter(
      (alias) => alias.visibleAt === undefined || alias.visibleAt <= now,
    );
  }

  /**
   * Finds a key from a KeyId parameter: key ID or key ARN, and alias name or alias ARN when the operation
   * accepts aliases (most do not: GetParametersForImport, ImportKeyMaterial, TagResource, ...).
   */
  resolveKey(region: string, keyIdParam: string, allowAlias: boolean): KeyRecord {
    const state = this.region(region);
    let keyId = keyIdParam;
    const arn = ARN.exec(keyIdParam);
    if (arn) {
      if (arn[1] !== region || arn[2] !== this.accountId)
        throw notFound(`Invalid arn ${keyIdParam}: not in Region ${region} of account ${this.accountId}`);
      keyId = arn[3] === "alias" ? `alias/${arn[4]}` : arn[4]!;
    }
    if (keyId.startsWith("alias/")) {
      if (!allowAlias)
        throw notFound(`Invalid keyId ${keyIdParam}: this operation takes a key ID or key ARN, not an alias`);
      const alias = this.visibleAlias(region, keyId);
      if (!alias) throw notFound(`Alias ${this.aliasArn(region, keyId)} is not found.`);
      keyId = alias.targetKeyId;
    } else if (arn && arn[3] !== "key") throw notFound(`Invalid arn ${keyIdParam}`);
    const key = state.keys.get(keyId);
    // A key not yet visible answers exactly as a key that does not exist.
    if (!key || !this.applyTimeTransitions(state, key) || !this.isVisible(key))
      throw notFound(`Key '${this.keyArn(region, keyId)}' does not exist`);
    return key;
  }

  /** Applies what time did to a key; false when the key is gone (its deletion date passed). */
  private applyTimeTransitions(state: RegionState, key: KeyRecord): boolean {
    const now = this.now();
    if (key.keyState === "PendingReplicaDeletion") this.startPrimaryDeletionWhenAlone(key);
    if (key.pendingChange && key.pendingChange.visibleAt <= now) key.pendingChange = undefined;
    if (key.keyState === "PendingDeletion" && key.deletionDate !== undefined && key.deletionDate <= now) {
      state.keys.delete(key.keyId);
      for (const alias of state.aliases.values())
        if (alias.targetKeyId === key.keyId) state.aliases.delete(alias.aliasName);
      return false;
    }
    if (key.material && key.validTo !== undefined && key.validTo <= now) {
      // Expired imported material is deleted by KMS; the key waits for a new import.
      key.material = undefined;
      key.validTo = undefined;
      if (key.keyState !== "PendingDeletion") key.keyState = "PendingImport";
    }
    return true;
  }

  /**
   * A primary key in PendingReplicaDeletion enters PendingDeletion once its last replica is deleted, its
   * waiting period counted from that deletion (API Reference, ScheduleKeyDeletion).
   */
  private startPrimaryDeletionWhenAlone(primary: KeyRecord): void {
    let lastReplicaGone = 0;
    for (const [name, region] of this.regions) {
      const replica = name === primary.region ? undefined : region.keys.get(primary.keyId);
      if (!replica) continue;
      if (this.applyTimeTransitions(region, replica)) return;
      lastReplicaGone = Math.max(lastReplicaGone, replica.deletionDate ?? 0);
    }
    primary.keyState = "PendingDeletion";
    primary.deletionDate = (lastReplicaGone || this.now()) + (primary.pendingWindowInDays ?? 30) * 86_400_000;
  }

  /** Removes import tokens that expired more than `graceMs` ago (their bytes still say they expired). */
  purgeExpiredTokens(graceMs = 0): void {
    const now = this.now();
    for (const [id, token] of this.tokens) if (token.expiresAt + graceMs < now) this.tokens.delete(id);
  }
}
