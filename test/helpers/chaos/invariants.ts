import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { Ledger } from "../../../src/shared/ledger/index.js";
import type { MigrationRecord } from "../../../src/shared/migration.js";
import { PHASES } from "../../../src/shared/migration.js";
import { PhaseQueues } from "../../../src/shared/queues.js";
import { PROVENANCE_TAGS } from "../../../src/workers/phases/index.js";
import { emulatorKms } from "../pipeline.js";
import { TEST_REDIS_URL } from "../redis.js";
import { listTokenObjects } from "../softhsm.js";
import type { Figures } from "./figures.js";

export interface InvariantInput {
  prefix: string;
  redisUrl?: string;
  emulatorUrl: string;
  region?: string;
  /** The test token's environment and how many objects it held before the run. */
  tokenEnv: Record<string, string>;
  hsmObjectsBefore: number;
  /** How many keys were enqueued: each must have a record. */
  expectedKeys: number;
  /** Error codes a key may legitimately fail with in this scenario; any other failure is a problem. */
  allowedFailures?: readonly string[];
  /**
   * The KMS keys to hold the ledger against, when listing the whole Region would not do (an account seeded
   * with thousands of unrelated keys): e.g. `listCampaignKmsKeys`. @defaultValue every key of the Region
   */
  kmsKeys?: KmsKeySeen[];
}

/** A KMS key as the emulator holds it, with the migration it is tagged for. */
export interface KmsKeySeen {
  keyId: string;
  keyState: string;
  migrationId: string | undefined;
}

export interface InvariantReport {
  records: MigrationRecord[];
  kmsKeys: KmsKeySeen[];
  migrated: number;
  failed: number;
  lost: number;
  duplicates: number;
  orphans: number;
  orphansCleanedUp: number;
  leftoverHsmObjects: number;
  secretsLeftInLedger: number;
  /** Everything that broke an invariant, one line each; empty when all hold. */
  problems: string[];
}

/** A call against an emulator that may be injecting faults: tried until it answers (bounded). */
async function patiently<T>(what: string, run: () => Promise<T>): Promise<T> {
  let last: unknown;
  for (let attempt = 0; attempt < 40; attempt++) {
    try {
      return await run();
    } catch (error) {
      last = error;
      await sleep(50 + attempt * 25);
    }
  }
  throw new Error(`invariant check: ${what} kept failing: ${String(last)}`);
}

/**
 * The KMS keys tagged `hsm2kms:campaign=<prefix>` (every key a campaign's workers create carries it), found
 * through the Resource Groups Tagging API as the product finds them, with their state and migration tag.
 */
export async function listCampaignKmsKeys(
  url: string,
  prefix: string,
  region = "us-east-1",
): Promise<KmsKeySeen[]> {
  const kms = emulatorKms(url, region);
  try {
    const tagged = await patiently("GetResources", () => kms.findKeysByTag(PROVENANCE_TAGS.campaign, prefix));
    const keys: KmsKeySeen[] = [];
    for (const { keyId, tags } of tagged) {
      const info = await patiently("DescribeKey", () => kms.describeKey(keyId));
      if (info) keys.push({ keyId, keyState: info.keyState, migrationId: tags[PROVENANCE_TAGS.migrationId] });
    }
    return keys;
  } finally {
    kms.close();
  }
}

/** Every KMS key of the Region with its state and provenance tag (live and pending deletion). */
export async function listKmsKeys(url: string, region = "us-east-1"): Promise<KmsKeySeen[]> {
  const kms = emulatorKms(url, region);
  try {
    const ids = await patiently("ListKeys", async () => {
      const all: string[] = [];
      for await (const keyId of kms.listKeyIds()) all.push(keyId);
      return all;
    });
    const keys: KmsKeySeen[] = [];
    for (const keyId of ids) {
      const info = await patiently("DescribeKey", () => kms.describeKey(keyId));
      if (!info) continue;
      const tags = await patiently("ListResourceTags", () => kms.listResourceTags(keyId));
      keys.push({ keyId, keyState: info.keyState, migrationId: tags[PROVENANCE_TAGS.migrationId] });
    }
    return keys;
  } finally {
    kms.close();
  }
}

export async function readLedger(prefix: string, redisUrl = TEST_REDIS_URL) {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 3 });
  redis.on("error", () => undefined);
  try {
    const ledger = new Ledger(redis, prefix);
    const records: MigrationRecord[] = [];
    for await (const record of ledger.records()) records.push(record);
    return { records, counts: await ledger.counts() };
  } finally {
    redis.disconnect();
  }
}

/** Jobs still waiting, active or delayed in any phase queue of the prefix (a finished run has none). */
export async function pendingJobs(prefix: string, region = "us-east-1", redisUrl = TEST_REDIS_URL) {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  redis.on("error", () => undefined);
  const queues = new PhaseQueues(redis, prefix);
  try {
    let pending = 0;
    for (const phase of PHASES) {
      const counts = await queues
        .queue(phase, region)
        .getJobCounts("waiting", "active", "delayed", "prioritized", "waiting-children");
      pending += Object.values(counts).reduce((sum, count) => sum + count, 0);
    }
    return pending;
  } finally {
    await queues.close();
    redis.disconnect();
  }
}

/**
 * The invariants every scenario must keep: every key ends `migrated` exactly once, or `failed` with a
 * reason; each source key has at most one live KMS key and a migrated key exactly the one the ledger names;
 * no live KMS key the ledger does not know (orphans); no object left behind in the HSM token; no import
 * token or wrapped material left in a finished record; the ledger's counters agree with its records.
 */
export async function checkInvariants(input: InvariantInput): Promise<InvariantReport> {
  const region = input.region ?? "us-east-1";
  const problems: string[] = [];
  const { records, counts } = await readLedger(input.prefix, input.redisUrl);
  const kmsKeys = input.kmsKeys ?? (await listKmsKeys(input.emulatorUrl, region));
  const name = (record: MigrationRecord) => `${record.source.label ?? record.source.idHex} (${record.id})`;

  let lost = Math.max(0, input.expectedKeys - records.length);
  if (lost > 0) problems.push(`${lost} enqueued keys have no ledger record`);
  let migrated = 0;
  let failed = 0;
  let secretsLeftInLedger = 0;
  const tally: Record<string, number> = {};
  for (const record of records) {
    tally[record.status] = (tally[record.status] ?? 0) + 1;
    if (record.status === "migrated") {
      migrated++;
      if (record.phase !== "done") problems.push(`${name(record)}: migrated but phase ${record.phase}`);
      if (record.verified !== "true" && record.verified !== "roundtrip")
        problems.push(`${name(record)}: migrated without proof (verified=${record.verified})`);
      if (!record.checks?.length || record.checks.some((check) => check.result !== "pass"))
        problems.push(`${name(record)}: migrated with a failed or missing check`);
    } else if (record.status === "failed") {
      failed++;
      if (!record.error?.code || !record.error.message)
        problems.push(`${name(record)}: failed without a reason`);
      else if (!input.allowedFailures?.includes(record.error.code))
        problems.push(`${name(record)}: failed: ${record.error.code}: ${record.error.message}`);
    } else {
      lost++;
      problems.push(`${name(record)}: stuck ${record.status} at ${record.phase}`);
    }
    if (
      (record.status === "migrated" || record.status === "failed") &&
      (record.importParams || record.wrappedMaterialB64 || record.wrappedForParams)
    ) {
      secretsLeftInLedger++;
      problems.push(`${name(record)}: import token or wrapped material left in the finished record`);
    }
  }
  for (const status of new Set([...Object.keys(tally), ...Object.keys(counts.byStatus)]))
    if ((tally[status] ?? 0) !== (counts.byStatus[status] ?? 0))
      problems.push(
        `ledger counter status:${status} is ${counts.byStatus[status] ?? 0}, records say ${tally[status] ?? 0}`,
      );

  const byId = new Map(records.map((record) => [record.id, record]));
  const live = new Map<string, KmsKeySeen[]>();
  let orphans = 0;
  let orphansCleanedUp = 0;
  for (const key of kmsKeys) {
    const owner = key.migrationId ? byId.get(key.migrationId) : undefined;
    if (key.keyState === "PendingDeletion") {
      if (owner?.kmsKeyId !== key.keyId) orphansCleanedUp++;
      continue;
    }
    if (!owner || owner.kmsKeyId !== key.keyId) {
      orphans++;
      problems.push(
        `orphan KMS key ${key.keyId} (${key.keyState}, tagged ${key.migrationId ?? "nothing"}): the ledger does not name it`,
      );
    }
    if (key.migrationId) live.set(key.migrationId, [...(live.get(key.migrationId) ?? []), key]);
  }
  let duplicates = 0;
  for (const [migrationId, keys] of live) {
    if (keys.length > 1) {
      duplicates += keys.length - 1;
      problems.push(
        `${migrationId}: ${keys.length} live KMS keys (${keys.map((key) => key.keyId).join(", ")})`,
      );
    }
  }
  for (const record of records) {
    if (record.status !== "migrated") continue;
    const keys = live.get(record.id) ?? [];
    if (keys.length !== 1 || keys[0]?.keyId !== record.kmsKeyId || keys[0]?.keyState !== "Enabled")
      problems.push(
        `${name(record)}: migrated to ${record.kmsKeyId}, but KMS holds ${keys.map((key) => `${key.keyId}:${key.keyState}`).join(", ") || "nothing"}`,
      );
  }

  const leftoverHsmObjects = (await listTokenObjects(input.tokenEnv)).length - input.hsmObjectsBefore;
  if (leftoverHsmObjects !== 0) problems.push(`${leftoverHsmObjects} objects left behind in the HSM token`);

  return {
    records,
    kmsKeys,
    migrated,
    failed,
    lost,
    duplicates,
    orphans,
    orphansCleanedUp,
    leftoverHsmObjects,
    secretsLeftInLedger,
    problems,
  };
}

/** Adds a report to the suite's figures. */
export function addToFigures(figures: Figures, report: InvariantReport): void {
  figures.keysMigrated += report.migrated;
  figures.keysFailed += report.failed;
  figures.keysLost += report.lost;
  figures.duplicateKmsKeys += report.duplicates;
  figures.orphanKmsKeys += report.orphans;
  figures.orphansCleanedUp += report.orphansCleanedUp;
  figures.leftoverHsmObjects += Math.max(0, report.leftoverHsmObjects);
  figures.secretOccurrences += report.secretsLeftInLedger;
  figures.tokenRefreshes += report.records.reduce((sum, record) => sum + record.tokenRefreshes, 0);
}
