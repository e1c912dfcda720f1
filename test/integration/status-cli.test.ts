import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StatusReport } from "../../src/campaign/status.js";
import { newMigrationRecord } from "../../src/shared/migration.js";
import { PhaseQueues } from "../../src/shared/queues.js";
import { runCli } from "../helpers/cli.js";
import { testLedger } from "../helpers/fleet.js";
import { deletePrefix, randomPrefix, TEST_REDIS_URL } from "../helpers/redis.js";

// A young campaign in two Regions, written straight into a real Redis ledger, then read by the real CLI:
// enqueued 60 s ago; 6 keys of us-east-1 migrated at 8 s intervals from 40 s ago, one of eu-west-1 failed
// 20 s ago; two more are in wrap and one params job waits out a retry backoff.
const prefix = randomPrefix("status");
const { redis, ledger } = testLedger(prefix);
const queues = new PhaseQueues(redis, prefix);
const env = {
  REDIS_URL: TEST_REDIS_URL,
  HSM2KMS_QUEUE_PREFIX: prefix,
  AWS_REGION: "us-east-1",
  HSM2KMS_LOG_LEVEL: "warn",
};

beforeAll(async () => {
  const now = Date.now();
  await ledger.ensureCampaign(new Date(now - 60_000));
  const records = [
    ...Array.from({ length: 10 }, (_, i) => ({ region: "us-east-1", label: `east-${i}` })),
    ...Array.from({ length: 4 }, (_, i) => ({ region: "eu-west-1", label: `west-${i}` })),
  ].map(({ region, label }) =>
    newMigrationRecord(
      `id-${label}`,
      region,
      { label },
      { tags: {}, multiRegion: false },
      new Date(now - 60_000),
    ),
  );
  await ledger.createMany(records);
  const save = (index: number, change: object, at: number) =>
    ledger.save({ ...records[index]!, ...change }, 1, at);
  for (let i = 0; i < 6; i++)
    await save(
      i,
      { status: "migrated", phase: "done", completedAt: new Date(now).toISOString() },
      now - 40_000 + i * 8000,
    );
  const error = {
    code: "SOURCE_KEY_NOT_EXTRACTABLE",
    kind: "fatal",
    phase: "preflight",
    message: "not extractable",
    at: "",
  };
  await save(10, { status: "failed", error }, now - 20_000);
  await save(6, { status: "in_progress", phase: "wrap" }, now - 5000);
  await save(7, { status: "in_progress", phase: "wrap" }, now - 5000);
  await queues
    .queue("params", "us-east-1")
    .add("params", { migrationId: "id-east-8", generation: 0 }, { delay: 600_000 });
});

afterAll(async () => {
  for (const phase of ["params"] as const) await queues.queue(phase, "us-east-1").close();
  redis.disconnect();
  await deletePrefix(prefix);
  await deletePrefix(`{${prefix}.ledger}`);
});

describe("hsm2kms status on a young campaign", () => {
  it("--json: the rate runs from the first completion, not over 5 minutes; elapsed, percentages, Regions, retrying jobs", async () => {
    const result = await runCli(["status", "--json"], env);
    expect(result.code, result.output).toBe(0);
    const status = JSON.parse(result.output.slice(result.output.indexOf("{"))) as StatusReport;

    // 6 keys finished after the first one, 40 s (plus the CLI's start-up) ago: about 9 keys/min, so the 7
    // remaining take under a minute. Over the 5-minute window it would read 1.4 keys/min and an ETA of 5 min.
    expect(status.rateBasis).toBe("since-first-completion");
    expect(status.rateSeconds).toBeGreaterThanOrEqual(40);
    expect(status.keysPerMinute).toBeCloseTo(6 / (status.rateSeconds / 60), 5);
    expect(status.keysPerMinute).toBeGreaterThan(1.4);
    expect(status.remaining).toBe(7);
    expect(status.etaSeconds).toBeCloseTo((7 / status.keysPerMinute) * 60, 5);

    expect(status.elapsedSeconds).toBeGreaterThanOrEqual(60);
    expect(status.percentFinished).toBeCloseTo(50);
    expect(status.percentMigrated).toBeCloseTo((6 / 14) * 100);
    expect(status.byRegion).toEqual([
      expect.objectContaining({
        region: "eu-west-1",
        total: 4,
        migrated: 0,
        failed: 1,
        remaining: 3,
        percentFinished: 25,
      }),
      expect.objectContaining({
        region: "us-east-1",
        total: 10,
        migrated: 6,
        failed: 0,
        remaining: 4,
        percentFinished: 60,
      }),
    ]);
    expect(status.phases["params"]).toEqual({ waiting: 0, running: 0, retrying: 1, failed: 0 });
    expect(status.phases["preflight"]?.failed).toBe(1);
  });

  it("prints the same for people: progress line, a line per Region, a retrying column, the rate's basis", async () => {
    const result = await runCli(["status"], env);
    expect(result.code, result.output).toBe(0);
    const lines = result.output.split("\n");
    expect(lines[0]).toBe("14 keys in eu-west-1, us-east-1: 6 migrated, 1 failed, 2 in progress, 5 queued");
    expect(lines[1]).toMatch(/^50% finished \(42% migrated\); started \S+Z, elapsed \d+m\d\ds$/);
    expect(result.output).toMatch(/^eu-west-1\s+4\s+0\s+1\s+3\s+25%\s+3\.0s$/m);
    expect(result.output).toMatch(/^us-east-1\s+10\s+6\s+0\s+4\s+60%\s+4\.0s$/m);
    expect(result.output).toMatch(/^phase\s+waiting\s+running\s+retrying\s+failed$/m);
    expect(result.output).toMatch(/^params\s+0\s+0\s+1\s+0$/m);
    expect(result.output).toMatch(
      /rate \d+\.\d keys\/min since the first key finished (\d+\.\ds|\d+m\d\ds) ago; 7 remaining; ETA (\d+\.\ds|\d+m\d\ds) /,
    );
  });
});
