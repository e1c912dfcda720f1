import { Readable } from "node:stream";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { enqueueManifest } from "../../src/campaign/enqueue.js";
import { formatManifestCsv, ManifestFileError } from "../../src/manifest/read.js";
import { Ledger } from "../../src/shared/ledger/index.js";
import { newMigrationRecord } from "../../src/shared/migration.js";
import { PhaseQueues, phaseJobId } from "../../src/shared/queues.js";
import { deletePrefix, randomPrefix, TEST_REDIS_URL } from "../helpers/redis.js";

// enqueue writes one chunk while it parses the next: what it writes must still be whole and in order.
const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
const prefixes: string[] = [];

afterAll(async () => {
  for (const prefix of prefixes) {
    await deletePrefix(prefix);
    await deletePrefix(`{${prefix}.ledger}`);
  }
  redis.disconnect();
});

const manifest = (rows: number) =>
  formatManifestCsv(
    Array.from({ length: rows }, (_, n) => ({
      source_label: `overlap-key-${n}`,
      region: "us-east-1",
      alias: `alias/overlap/${n}`,
    })),
  );

function deployment() {
  const prefix = randomPrefix("enqueue-overlap");
  prefixes.push(prefix);
  return { prefix, ledger: new Ledger(redis, prefix), queues: new PhaseQueues(redis, prefix) };
}

/** Every ledger record with its preflight job: nothing half-written. */
async function recordsWithJobs({ ledger, queues }: ReturnType<typeof deployment>) {
  const preflight = queues.queue("preflight", "us-east-1");
  let records = 0;
  let withJob = 0;
  for await (const record of ledger.records()) {
    records++;
    if (await preflight.getJob(phaseJobId(record, "preflight"))) withJob++;
  }
  return { records, withJob };
}

describe("the ledger's createMany (one script per chunk)", () => {
  it("leaves the ledger as one create per record would: records, order, counters, Regions", async () => {
    const records = (labels: string[], region: string) =>
      labels.map((label, n) =>
        newMigrationRecord(
          `k-many-${region}-${label}`,
          region,
          { label },
          { tags: { team: label }, multiRegion: false },
          new Date(1_000 + n),
        ),
      );
    const one = deployment();
    const many = deployment();
    const first = [...records(["a", "b"], "us-east-1"), ...records(["c"], "eu-west-1")];
    const second = [
      ...records(["b", "d"], "us-east-1"),
      ...records(["c"], "eu-west-1"),
      ...records(["e"], "eu-west-1").map((record) => ({ ...record, account: "444455556666" })),
    ];
    for (const record of [...first, ...second]) await one.ledger.create(record);
    expect(await many.ledger.createMany(first)).toEqual([true, true, true]);
    // Some known, some new, in one call: only the new ones are created, in the order given.
    expect(await many.ledger.createMany(second)).toEqual([false, true, false, true]);
    expect(await many.ledger.createMany([])).toEqual([]);
    const ids = async (ledger: Ledger) => {
      const seen: string[] = [];
      for await (const record of ledger.records()) seen.push(record.id);
      return seen;
    };
    expect(await ids(many.ledger)).toEqual(await ids(one.ledger));
    expect(await ids(many.ledger)).toHaveLength(5);
    expect(await many.ledger.counts()).toEqual(await one.ledger.counts());
    expect(await many.ledger.regions()).toEqual(["eu-west-1", "us-east-1"]);
    expect(await many.ledger.targets()).toEqual(await one.ledger.targets());
    expect(await many.ledger.targets()).toContainEqual({ account: "444455556666", region: "eu-west-1" });
    const stored = await many.ledger.get(second[1]!.id);
    expect(stored).toEqual({ record: second[1], rev: 1 });
  });
});

describe("enqueue writes a chunk while parsing the next", () => {
  it("queues every row once in small chunks; a re-run adds nothing", async () => {
    const target = deployment();
    const options = {
      defaultRegion: "us-east-1",
      ledger: target.ledger,
      queues: target.queues,
      chunkSize: 4,
    };
    const progress: number[] = [];
    const first = await enqueueManifest(Readable.from([manifest(25)]), {
      ...options,
      onProgress: (summary) => progress.push(summary.queued),
    });
    expect(first).toMatchObject({ accepted: 25, queued: 25, alreadyKnown: 0 });
    // Chunks are written in order, each reported once it is whole.
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(progress.at(-1)).toBe(25);
    expect(await recordsWithJobs(target)).toEqual({ records: 25, withJob: 25 });
    const again = await enqueueManifest(Readable.from([manifest(25)]), options);
    expect(again).toMatchObject({ accepted: 25, queued: 0, alreadyKnown: 25 });
  });

  it("a file that breaks mid-way leaves every chunk written before the break whole", async () => {
    const target = deployment();
    const broken = `${manifest(30)}"unclosed,us-east-1\n`;
    await expect(
      enqueueManifest(Readable.from([broken]), {
        defaultRegion: "us-east-1",
        ledger: target.ledger,
        queues: target.queues,
        chunkSize: 4,
      }),
    ).rejects.toBeInstanceOf(ManifestFileError);
    const { records, withJob } = await recordsWithJobs(target);
    expect(records).toBeGreaterThan(0);
    expect(withJob).toBe(records);
  });
});
