import type { MigrationRecord } from "../migration.js";
import type { RedisConnection } from "../redis.js";
import { type KmsTarget, parseTargetName, targetName } from "../targets.js";
import { type CampaignMarker, ensureCampaign, readCampaign } from "./campaign.js";
import { ledgerKey } from "./keys.js";
import { COUNT_TARGETS, CREATE_RECORD, CREATE_RECORDS, SAVE_RECORD } from "./scripts.js";

/** Another worker saved the record since we read it: our view is stale and we must not hand over. */
export class LedgerConflictError extends Error {
  constructor(readonly migrationId: string) {
    super(
      `ledger record ${migrationId} was changed by another worker (its job lock was lost): this attempt stops without handing over`,
    );
    this.name = this.constructor.name;
  }
}

export interface StoredRecord {
  record: MigrationRecord;
  rev: number;
}

/** Counters of the whole ledger, kept in step with every save. */
export interface LedgerCounts {
  byStatus: Record<string, number>;
  /** `phase|status` -> count */
  byPhase: Record<string, number>;
  /** `region|status` -> count */
  byRegion: Record<string, number>;
  /** error code -> failed keys */
  byError: Record<string, number>;
  /** `region|code` -> failed keys */
  byRegionError: Record<string, number>;
  /** `<account>-<region>|status` -> count, for keys of another account only (they count in `byRegion` too). */
  byTarget: Record<string, number>;
  /** `<account>-<region>|code` -> failed keys, for keys of another account only. */
  byTargetError: Record<string, number>;
}

/**
 * The durable per-key record of every migration, in Redis, outliving job retention. One JSON document per
 * key plus counters; writes are compare-and-set on a revision so a worker that lost its job lock cannot
 * overwrite newer state. All keys share the hash tag `{<prefix>.ledger}` (Redis Cluster: one slot).
 */
export class Ledger {
  constructor(
    private readonly redis: RedisConnection,
    readonly prefix: string,
  ) {
    redis.defineCommand("h2kCreateRecord", { numberOfKeys: 6, lua: CREATE_RECORD });
    redis.defineCommand("h2kSaveRecord", { numberOfKeys: 4, lua: SAVE_RECORD });
    redis.defineCommand("h2kCountTargets", { lua: COUNT_TARGETS });
    // Without numberOfKeys, the key count is the first argument: one per record, plus the four shared keys.
    redis.defineCommand("h2kCreateRecords", { lua: CREATE_RECORDS });
  }

  private key(suffix: string): string {
    return ledgerKey(this.prefix, suffix);
  }

  recordKey(id: string): string {
    return this.key(`rec:${id}`);
  }

  /** The keys every create touches besides the record's own: counts, ids, regions, seq, targets. */
  private createKeys(): string[] {
    return ["counts", "ids", "regions", "seq", "targets"].map((suffix) => this.key(suffix));
  }

  /** What the create scripts store of a record: id, json, status, phase, region, target (or ""). */
  private createValues(record: MigrationRecord): string[] {
    return [
      record.id,
      JSON.stringify(record),
      record.status,
      record.phase,
      record.region,
      targetField(record),
    ];
  }

  /** Creates the record unless the key is already known. Returns true when created. */
  async create(record: MigrationRecord): Promise<boolean> {
    return (
      (await (this.redis as unknown as Scripts).h2kCreateRecord(
        this.recordKey(record.id),
        ...this.createKeys(),
        ...this.createValues(record),
      )) === 1
    );
  }

  /**
   * Creates many records in one round trip and one script run; for each, true when created, false when
   * already known. Sequence numbers follow the records' order, as separate creates would give them.
   */
  async createMany(records: MigrationRecord[]): Promise<boolean[]> {
    if (records.length === 0) return [];
    const keys = this.createKeys();
    const values: string[] = [];
    for (const record of records) {
      keys.push(this.recordKey(record.id));
      values.push(...this.createValues(record));
    }
    const created = await (this.redis as unknown as Scripts).h2kCreateRecords(
      keys.length,
      ...keys,
      ...values,
    );
    return created.map((flag) => flag === 1);
  }

  /** Many records by id, in one round trip (undefined where unknown). */
  async getMany(ids: string[]): Promise<Array<StoredRecord | undefined>> {
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hmget(this.recordKey(id), "json", "rev");
    return ((await pipeline.exec()) ?? []).map(([error, value]) => {
      if (error) throw error;
      const [json, rev] = value as [string | null, string | null];
      return json == null || rev == null
        ? undefined
        : { record: JSON.parse(json) as MigrationRecord, rev: Number(rev) };
    });
  }

  async get(id: string): Promise<StoredRecord | undefined> {
    const [json, rev] = await this.redis.hmget(this.recordKey(id), "json", "rev");
    if (json == null || rev == null) return undefined;
    return { record: JSON.parse(json) as MigrationRecord, rev: Number(rev) };
  }

  /** Saves `record` if its revision is still `rev`; returns the new revision. Throws LedgerConflictError otherwise. */
  async save(record: MigrationRecord, rev: number, now = Date.now()): Promise<number> {
    const result = await (this.redis as unknown as Scripts).h2kSaveRecord(
      this.recordKey(record.id),
      this.key("counts"),
      this.key("finished"),
      this.key("failed"),
      rev,
      JSON.stringify(record),
      record.status,
      record.phase,
      record.error?.code ?? "",
      now,
      record.id,
      targetField(record),
    );
    if (result < 0) throw new LedgerConflictError(record.id);
    return result;
  }

  /** The campaign marker of this prefix (see src/campaign/marker.ts), undefined when there is none. */
  async campaign(): Promise<CampaignMarker | undefined> {
    return readCampaign(this.redis, this.prefix);
  }

  /** Writes the campaign marker unless one exists; enqueue calls it before its first record. */
  async ensureCampaign(now?: Date): Promise<CampaignMarker> {
    return ensureCampaign(this.redis, this.prefix, now);
  }

  async counts(): Promise<LedgerCounts> {
    const raw = await this.redis.hgetall(this.key("counts"));
    const counts: LedgerCounts = {
      byStatus: {},
      byPhase: {},
      byRegion: {},
      byError: {},
      byRegionError: {},
      byTarget: {},
      byTargetError: {},
    };
    const into: Record<string, Record<string, number>> = {
      status: counts.byStatus,
      phase: counts.byPhase,
      region: counts.byRegion,
      error: counts.byError,
      failure: counts.byRegionError,
      target: counts.byTarget,
      "target-failure": counts.byTargetError,
    };
    for (const [field, value] of Object.entries(raw)) {
      const separator = field.indexOf(":");
      const target = into[field.slice(0, separator)];
      if (target && Number(value) !== 0) target[field.slice(separator + 1)] = Number(value);
    }
    return counts;
  }

  /**
   * Brings the records of other accounts written before the per-target counters (`counts.byTarget`) into them,
   * once per ledger (a marker `targets-counted` remembers it): a campaign enqueued by an earlier version and
   * finished before its upgrade would otherwise show none of its keys per target. Reads the ledger in batches;
   * each batch is one atomic script, so workers saving meanwhile count nothing twice.
   */
  async countTargets(batchSize = 500): Promise<void> {
    if (await this.redis.exists(this.key("targets-counted"))) return;
    // No other account's keys: nothing to count, and no marker written into a prefix without a campaign.
    if ((await this.redis.scard(this.key("targets"))) === 0) return;
    for (let start = 0; ; start += batchSize) {
      const ids = await this.redis.zrange(this.key("ids"), String(start), String(start + batchSize - 1));
      if (ids.length === 0) break;
      const keys = [this.key("counts"), ...ids.map((id) => this.recordKey(id))];
      await (this.redis as unknown as Scripts).h2kCountTargets(keys.length, ...keys);
    }
    await this.redis.set(this.key("targets-counted"), new Date().toISOString());
  }

  async size(): Promise<number> {
    return this.redis.zcard(this.key("ids"));
  }

  async regions(): Promise<string[]> {
    return (await this.redis.smembers(this.key("regions"))).sort();
  }

  /**
   * Every target (account, Region) with keys: the caller's own account in each Region of the ledger, then
   * each other account's Regions. The phase queues are per target.
   */
  async targets(): Promise<KmsTarget[]> {
    const [regions, others] = await Promise.all([this.regions(), this.redis.smembers(this.key("targets"))]);
    return [...regions.map((region) => ({ region })), ...others.sort().map(parseTargetName)];
  }

  /** Keys that finished (migrated or failed) since `sinceMs`. */
  async finishedSince(sinceMs: number): Promise<number> {
    return this.redis.zcount(this.key("finished"), String(sinceMs), "+inf");
  }

  /** When the first and the last key finished (epoch ms), undefined before any did. */
  async finishedSpan(): Promise<{ firstMs?: number; lastMs?: number }> {
    const [first, last] = await Promise.all([
      this.redis.zrange(this.key("finished"), "0", "0", "WITHSCORES"),
      this.redis.zrange(this.key("finished"), "-1", "-1", "WITHSCORES"),
    ]);
    return {
      ...(first[1] === undefined ? {} : { firstMs: Number(first[1]) }),
      ...(last[1] === undefined ? {} : { lastMs: Number(last[1]) }),
    };
  }

  /** Ids of failed keys, oldest failure first. */
  async failedIds(start = 0, count = 100): Promise<string[]> {
    return this.redis.zrange(this.key("failed"), String(start), String(start + count - 1));
  }

  async failedCount(): Promise<number> {
    return this.redis.zcard(this.key("failed"));
  }

  /** Every record in enqueue order, read in batches (memory stays flat in the ledger's size). */
  async *records(batchSize = 500): AsyncIterable<MigrationRecord> {
    for (let start = 0; ; start += batchSize) {
      const ids = await this.redis.zrange(this.key("ids"), String(start), String(start + batchSize - 1));
      if (ids.length === 0) return;
      const pipeline = this.redis.pipeline();
      for (const id of ids) pipeline.hget(this.recordKey(id), "json");
      for (const [error, json] of (await pipeline.exec()) ?? []) {
        if (error) throw error;
        if (typeof json === "string") yield JSON.parse(json) as MigrationRecord;
      }
    }
  }
}

/** The record's target name in the counters, `<account>-<region>`, or "" for the caller's own account. */
function targetField(record: MigrationRecord): string {
  return record.account === undefined ? "" : targetName({ account: record.account, region: record.region });
}

interface Scripts {
  h2kCountTargets(...args: Array<string | number>): Promise<number>;
  h2kCreateRecord(...args: Array<string | number>): Promise<number>;
  h2kSaveRecord(...args: Array<string | number>): Promise<number>;
  h2kCreateRecords(...args: Array<string | number>): Promise<number[]>;
}
