import { spawn } from "node:child_process";
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { MANIFEST_COLUMNS } from "../../src/manifest/read.js";
import { formatCsvLine } from "../../src/shared/csv.js";
import { BENCH_REGIONS, type BenchEnv, REDIS_URL } from "../lib/bench-env.js";
import { memoryUnder, usedMemory } from "../lib/redis-stats.js";
import { atLeast, atMost, type Figure, info } from "../lib/report.js";
import { ensureFreshBuild } from "./startup.js";
import type { Scenario } from "./types.js";

const BIN = join(import.meta.dirname, "../../bin/hsm2kms.js");
/** Old-space cap of the producer for the flatness check: ample for what is live, below what V8 grows to. */
const CAPPED_HEAP_MIB = 48;

/** A manifest of `rows` distinct keys (label, id, alias, tags), written as a stream: never all in memory. */
async function writeManifest(path: string, rows: number): Promise<void> {
  const out = createWriteStream(path);
  const cell = (row: Record<string, string>) => MANIFEST_COLUMNS.map((column) => row[column] ?? "");
  out.write(formatCsvLine(MANIFEST_COLUMNS));
  for (let n = 0; n < rows; n++) {
    const line = formatCsvLine(
      cell({
        source_label: `fleet-key-${n}`,
        source_id: n.toString(16).padStart(8, "0"),
        alias: `alias/migrated/fleet-key-${n}`,
        tags: `team=payments;batch=${n % 100}`,
        region: BENCH_REGIONS[0]!,
      }),
    );
    if (!out.write(line)) await once(out, "drain");
  }
  out.end();
  await once(out, "finish");
}

/** Peak resident set (VmHWM) of a process, kB; undefined once it is gone. */
async function peakRssKb(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    // A process that is exiting still has a status file, without its memory lines.
    const kb = Number(/^VmHWM:\s+(\d+)/m.exec(status)?.[1]);
    return Number.isFinite(kb) ? kb : undefined;
  } catch {
    return undefined;
  }
}

interface EnqueueRun {
  rows: number;
  seconds: number;
  rowsPerSecond: number;
  peakRssMiB: number;
  output: string;
  code: number | null;
  redisBytesPerKey: number;
  usedMemoryDeltaPerKey: number;
  redisKeys: number;
}

/** `hsm2kms enqueue` of a generated manifest in a child process, its VmHWM sampled every 20 ms. */
async function enqueueInChild(
  env: BenchEnv,
  manifest: string,
  rows: number,
  nodeOptions = "",
): Promise<EnqueueRun> {
  const prefix = env.prefix(`enqueue${rows}`);
  const redis = new Redis(REDIS_URL);
  try {
    const memoryBefore = await usedMemory(redis);
    const started = performance.now();
    const child = spawn(process.execPath, [BIN, "enqueue", manifest], {
      env: {
        PATH: process.env["PATH"] ?? "",
        NODE_NO_WARNINGS: "1",
        REDIS_URL,
        HSM2KMS_QUEUE_PREFIX: prefix,
        AWS_REGION: BENCH_REGIONS[0],
        HSM2KMS_LOG_LEVEL: "warn",
        // The bench's Redis is the machine's, kept in memory only.
        HSM2KMS_ALLOW_VOLATILE_REDIS: "true",
        NODE_OPTIONS: nodeOptions,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    let peakKb = 0;
    const sampler = setInterval(async () => {
      peakKb = Math.max(peakKb, (await peakRssKb(child.pid ?? 0)) ?? 0);
    }, 20);
    const [code] = (await once(child, "exit")) as [number | null];
    clearInterval(sampler);
    const seconds = (performance.now() - started) / 1000;
    const usedDelta = (await usedMemory(redis)) - memoryBefore;
    const bull = await memoryUnder(redis, `${prefix}:*`);
    const ledger = await memoryUnder(redis, `{${prefix}.ledger}*`);
    return {
      rows,
      seconds,
      rowsPerSecond: rows / seconds,
      peakRssMiB: peakKb / 1024,
      output: output.trim().slice(-500),
      code,
      redisBytesPerKey: (bull.bytes + ledger.bytes) / rows,
      usedMemoryDeltaPerKey: usedDelta / rows,
      redisKeys: bull.keys + ledger.keys,
    };
  } finally {
    redis.disconnect();
    await env.releasePrefix(prefix);
  }
}

export const enqueueScenario: Scenario = {
  name: "enqueue",
  description: "hsm2kms enqueue of a generated 10k and 100k-row manifest: rows/s, peak RSS, Redis bytes/key",
  keysNeeded: () => 0,
  async run(context) {
    const [small, large] = context.quick ? [5_000, 20_000] : [10_000, 100_000];
    // The compiled CLI, as installed: tsx would add its own start-up and compile time to every run.
    ensureFreshBuild();
    const dir = await mkdtemp(join(tmpdir(), "hsm2kms-bench-"));
    try {
      const files = [join(dir, "small.csv"), join(dir, "large.csv")] as const;
      await writeManifest(files[0], small);
      await writeManifest(files[1], large);
      const a = await enqueueInChild(context.env, files[0], small);
      const b = await enqueueInChild(context.env, files[1], large);
      // V8 grows its heap lazily, so the default peak RSS follows the garbage made, not what is live. A
      // capped old space shows what the producer needs: flat in the manifest's size if it streams.
      const cap = `--max-old-space-size=${CAPPED_HEAP_MIB}`;
      const aCapped = await enqueueInChild(context.env, files[0], small, cap);
      const bCapped = await enqueueInChild(context.env, files[1], large, cap);
      context.record("enqueue", { small: a, large: b, smallCapped: aCapped, largeCapped: bCapped });
      const scenario = "5 enqueue";
      const figures: Figure[] = [];
      for (const run of [a, b, aCapped, bCapped])
        if (run.code !== 0 || !run.output.includes(`${run.rows} rows accepted (${run.rows} queued`))
          figures.push({
            scenario,
            figure: `${run.rows} rows: exit ${run.code}`,
            value: run.output,
            met: false,
          });
      return [
        ...figures,
        atLeast(scenario, `rows/s (${large} rows, incl. start-up)`, b.rowsPerSecond, 10_000),
        info(scenario, "rows/s (marginal, large - small)", (b.rows - a.rows) / (b.seconds - a.seconds)),
        info(
          scenario,
          `peak RSS ${small} / ${large} rows`,
          `${a.peakRssMiB.toFixed(0)} / ${b.peakRssMiB.toFixed(0)}`,
          "MiB",
        ),
        info(
          scenario,
          "peak RSS, heap capped",
          `${aCapped.peakRssMiB.toFixed(0)} / ${bCapped.peakRssMiB.toFixed(0)}`,
          `MiB (${cap})`,
        ),
        atMost(scenario, "peak RSS large / small, default heap", b.peakRssMiB / a.peakRssMiB, 1.1),
        info(scenario, "peak RSS large / small, capped", bCapped.peakRssMiB / aCapped.peakRssMiB),
        info(scenario, "Redis bytes per queued key", b.redisBytesPerKey, "MEMORY USAGE"),
        info(scenario, "Redis used_memory delta per key", b.usedMemoryDeltaPerKey, "server-wide"),
      ];
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
};
