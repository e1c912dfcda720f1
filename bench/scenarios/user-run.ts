import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { Redis } from "ioredis";
import { DEFAULT_KMS_QUOTAS } from "../../src/shared/kms-quotas.js";
import { Ledger } from "../../src/shared/ledger/index.js";
import { TAGGING_QUOTAS } from "../../src/testkit/kms-emulator/operations/tagging.js";
import type { SampleKey } from "../../src/testkit/sample-keys.js";
import { BENCH_CREDENTIALS, BENCH_REGIONS, REDIS_URL } from "../lib/bench-env.js";
import { benchManifest, scaledQuotas } from "../lib/fleet-run.js";
import { atLeast, atMost, info } from "../lib/report.js";
import type { Scenario } from "./types.js";

const BIN = join(import.meta.dirname, "../../bin/hsm2kms.js");
const CACHED_TOKEN = join(import.meta.dirname, "../lib/cached-token.ts");
const USER_TOKEN_KEYS = 300;
const FACTOR = 10;
const REGION = BENCH_REGIONS[0]!;

/** CPU time (user + system) a live process has used, from /proc/PID/stat (clock ticks of 10 ms). */
async function cpuSeconds(pid: number | undefined): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Runs a command to its end; its stdout, or a rejection with the end of its stderr. */
async function output(child: ChildProcess, what: string): Promise<string> {
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk) => (stdout += chunk));
  child.stderr?.on("data", (chunk) => (stderr = (stderr + chunk).slice(-2000)));
  const [code] = (await once(child, "exit")) as [number | null];
  if (code !== 0) throw new Error(`${what} exited ${code}: ${stderr}`);
  return stdout;
}

/**
 * The 300-key token of this scenario (bench/.cache/user-run, made once), made in a child process: SoftHSM2
 * reads its config once per process, and this process has the bench's main token open.
 */
async function userToken(): Promise<{ env: Record<string, string>; keys: SampleKey[] }> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", CACHED_TOKEN, "user-run", String(USER_TOKEN_KEYS)],
    { env: { PATH: process.env["PATH"] ?? "", NODE_NO_WARNINGS: "1" }, stdio: ["ignore", "pipe", "pipe"] },
  );
  return JSON.parse(await output(child, "cached-token user-run"));
}

/** `hsm2kms kms-emulator` with its own default wrapping-key policy; its URL once it listens. */
async function startEmulator(quotas: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    [
      BIN,
      "kms-emulator",
      "--quota",
      quotas,
      "--accept-kwp-zero-padding",
      "--wrapping-key-prepare",
      "RSA_4096",
    ],
    { env: { PATH: process.env["PATH"] ?? "", NODE_NO_WARNINGS: "1" }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let stderr = "";
  child.stderr?.on("data", (chunk) => (stderr = (stderr + chunk).slice(-2000)));
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`kms-emulator exited ${code}: ${stderr}`)));
  });
  return { url, child };
}

/**
 * What a user does: a 300-key SoftHSM2 token, `hsm2kms kms-emulator` at GetParametersForImport 10/s (every
 * other quota x 10, its default wrapping-key policy, RSA_4096 as hsm2kms's default wrapping key spec), and
 * `hsm2kms migrate` of all 300 keys through the real CLI. Efficiency counts the CLI's whole life, start-up
 * included: keys / seconds from spawn to exit / the GetParametersForImport quota.
 */
export const userRunScenario: Scenario = {
  name: "user-run",
  description:
    "hsm2kms migrate (real CLI) of a 300-key token against hsm2kms kms-emulator at 10 GetParametersForImport/s, start-up included",
  keysNeeded: () => 0,
  async run(context) {
    const token = await userToken();
    const quotas = scaledQuotas(DEFAULT_KMS_QUOTAS, FACTOR).list;
    const quota = DEFAULT_KMS_QUOTAS.GetParametersForImport * FACTOR;
    // The emulator also meters the Resource Groups Tagging API (create's lookup): scaled like the rest.
    const emulator = await startEmulator(
      scaledQuotas({ ...DEFAULT_KMS_QUOTAS, ...TAGGING_QUOTAS }, FACTOR).list,
    );
    const prefix = context.env.prefix("user-run");
    const dir = await mkdtemp(join(tmpdir(), "hsm2kms-bench-user-run-"));
    const redis = new Redis(REDIS_URL);
    try {
      const manifest = join(dir, "manifest.csv");
      await writeFile(manifest, benchManifest(token.keys, [REGION]));
      const started = performance.now();
      const cpuFile = join(dir, "migrate.cpu");
      const emulatorCpuBefore = await cpuSeconds(emulator.child.pid);
      // /usr/bin/time reports the CLI's own CPU (user + system): load-independent, unlike its wall time.
      const command = [process.execPath, BIN, "migrate", manifest, "--out", join(dir, "report.csv")];
      const migrate = spawn("/usr/bin/time", ["-f", "%U %S", "-o", cpuFile, ...command], {
        env: {
          PATH: process.env["PATH"] ?? "",
          NODE_NO_WARNINGS: "1",
          ...token.env,
          REDIS_URL,
          HSM2KMS_QUEUE_PREFIX: prefix,
          AWS_REGION: REGION,
          HSM2KMS_KMS_ENDPOINT: emulator.url,
          AWS_ACCESS_KEY_ID: BENCH_CREDENTIALS.accessKeyId,
          AWS_SECRET_ACCESS_KEY: BENCH_CREDENTIALS.secretAccessKey,
          HSM2KMS_KMS_QUOTAS: quotas,
          HSM2KMS_LOG_LEVEL: "warn",
          HSM2KMS_ALLOW_VOLATILE_REDIS: "true",
        },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let failure = "";
      await output(migrate, "hsm2kms migrate").catch((error: Error) => (failure = error.message));
      const seconds = (performance.now() - started) / 1000;
      const emulatorCpu = (await cpuSeconds(emulator.child.pid)) - emulatorCpuBefore;
      const [user, system] = (await readFile(cpuFile, "utf8")).trim().split(/\s+/).slice(-2).map(Number);
      const migrateCpu = (user ?? Number.NaN) + (system ?? Number.NaN);
      const counts = await new Ledger(redis, prefix).counts();
      const migrated = counts.byStatus["migrated"] ?? 0;
      const failed = counts.byStatus["failed"] ?? 0;
      const efficiency = migrated / seconds / quota;
      context.record("user-run", {
        tokenKeys: token.keys.length,
        quota,
        wrappingKeys:
          "kms-emulator defaults (--wrapping-key-pool 2 --wrapping-key-reuse 100), RSA_4096 prepared",
        seconds,
        migrated,
        failed,
        efficiency,
        migrateCpuSeconds: migrateCpu,
        emulatorCpuSeconds: emulatorCpu,
        failure: failure.slice(-500),
      });
      const scenario = "10 user run";
      return [
        info(scenario, "token keys / migrated / failed", `${token.keys.length} / ${migrated} / ${failed}`),
        info(scenario, "seconds, migrate spawn to exit", seconds),
        info(
          scenario,
          "CPU ms per key: migrate / emulator",
          `${((1000 * migrateCpu) / token.keys.length).toFixed(0)} / ${((1000 * emulatorCpu) / token.keys.length).toFixed(0)}`,
          "user + system",
        ),
        atLeast(scenario, "efficiency incl. start-up", efficiency, 0.9, `of ${quota}/s`),
        atMost(scenario, "failed keys", failed, 0),
      ];
    } finally {
      redis.disconnect();
      emulator.child.kill("SIGTERM");
      await rm(dir, { recursive: true, force: true });
    }
  },
};
