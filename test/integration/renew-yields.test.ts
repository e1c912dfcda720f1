import { Queue } from "bullmq";
import { afterEach, describe, expect, it } from "vitest";
import { type RenewalSchedule, startRenewalSchedule } from "../../src/lifecycle/renew-schedule.js";
import { loadConfig } from "../../src/shared/config.js";
import { Ledger } from "../../src/shared/ledger/index.js";
import { silentLogger } from "../../src/shared/logger.js";
import { type MigrationRecord, newMigrationRecord } from "../../src/shared/migration.js";
import { PhaseQueues, renewBullPrefix, renewQueueName } from "../../src/shared/queues.js";
import { createRedisConnection, type RedisConnection } from "../../src/shared/redis.js";
import { waitFor } from "../helpers/fleet.js";
import { randomPrefix, TEST_REDIS_URL, wipeCampaign } from "../helpers/redis.js";

const DAY = 86_400_000;
const REGION = "us-east-1";

/** A migrated key whose material expires in `expiresInMs`. */
function migrated(id: string, kmsKeyId: string, expiresInMs: number): MigrationRecord {
  const now = new Date();
  return {
    ...newMigrationRecord(
      id,
      REGION,
      { label: id },
      { tags: {}, multiRegion: false, expiresAt: new Date(now.getTime() + expiresInMs).toISOString() },
      now,
    ),
    status: "migrated",
    phase: "done",
    kmsKeyId,
  };
}

let cleanup: (() => Promise<void>) | undefined;

afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

describe("the scheduled renewal and a migration in the same account and Region", () => {
  it("waits while the migration has GetParametersForImport work queued there, unless the material expires within half the window; then renews", async () => {
    const prefix = randomPrefix("renew-yield");
    const connection: RedisConnection = createRedisConnection(TEST_REDIS_URL);
    const queues: Queue[] = [];
    const phaseQueues = new PhaseQueues(connection, prefix);
    let schedule: RenewalSchedule | undefined;
    cleanup = async () => {
      await schedule?.close(true);
      await Promise.all(queues.map((queue) => queue.close()));
      await phaseQueues.close();
      connection.disconnect();
      await wipeCampaign(prefix);
    };
    const config = loadConfig({ HSM2KMS_QUEUE_PREFIX: prefix });
    expect(config.renewBeforeMs).toBe(14 * DAY);
    const ledger = new Ledger(connection, prefix);
    // Both due (within 14 days); the first has more than 7 days left, the second fewer.
    const calm = migrated("k-calm", "11111111-1111-4111-8111-111111111111", 10 * DAY);
    const urgent = migrated("k-urgent", "22222222-2222-4222-8222-222222222222", 2 * DAY);
    for (const record of [calm, urgent]) expect(await ledger.create(record)).toBe(true);

    // The migration's params queue in the Region holds a key waiting for GetParametersForImport.
    const waiting = await phaseQueues
      .queue("params", REGION)
      .add("params", { migrationId: "k-migrating", generation: 0 });

    // What each renewal asks KMS first: DescribeKey. Answering with an error ends the renewal there.
    const described: string[] = [];
    const kms = () => ({
      describeKey: async (keyId: string) => {
        described.push(keyId);
        throw new Error("no KMS in this test");
      },
    });
    schedule = await startRenewalSchedule({
      config,
      connection,
      ledger,
      queues: phaseQueues,
      deps: {
        context: { kms, now: () => new Date() } as never,
        limits: {} as never,
      },
      logger: silentLogger(),
      onError: () => () => undefined,
      yieldMs: 200,
    });
    // The jobs the scheduled sweep adds (same queue, same job ids: a sweep running meanwhile adds nothing).
    const renewals = new Queue(renewQueueName(REGION), {
      connection,
      prefix: renewBullPrefix(prefix, REGION),
    });
    queues.push(renewals);
    for (const record of [calm, urgent])
      await renewals.add("renew", { migrationId: record.id }, { jobId: `${record.id}-renew`, attempts: 1 });
    schedule.serve({ region: REGION });

    await waitFor(async () => described.includes(urgent.kmsKeyId ?? ""), 10_000, "the urgent renewal");
    // Several yields of 200 ms later, the calm one still waits: delayed, not run.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(described).not.toContain(calm.kmsKeyId);
    expect((await renewals.getJob(`${calm.id}-renew`))?.attemptsMade ?? -1).toBe(0);

    // The migration's params work is done: the calm renewal runs once the reading of the queue expires (5 s).
    await waiting.remove();
    await waitFor(async () => described.includes(calm.kmsKeyId ?? ""), 15_000, "the calm renewal");
    expect(described.filter((keyId) => keyId === calm.kmsKeyId)).toHaveLength(1);
  });
});
