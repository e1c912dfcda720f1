import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { CachedToken } from "./cached-token.js";

const WORKER_HOST = join(import.meta.dirname, "worker-host.ts");
/** How long a worker host may take to start (tsx compiles the sources on first load). */
const READY_TIMEOUT_MS = 60_000;

/**
 * Copies of the bench token, one directory per host: CloudHSM client hosts all see the same keys of one
 * cluster, SoftHSM2 tokens are files, so each host gets its own copy (and its own SOFTHSM2_CONF).
 * Copy once the keys are made: the copies do not follow the original.
 */
export async function copyTokenForHosts(
  token: Pick<CachedToken, "dir" | "env">,
  hosts: number,
): Promise<{ envs: Array<Record<string, string>>; cleanup(): Promise<void> }> {
  const dirs: string[] = [];
  const envs: Array<Record<string, string>> = [];
  try {
    for (let n = 0; n < hosts; n++) {
      const dir = await mkdtemp(join(tmpdir(), `hsm2kms-bench-host${n + 1}-`));
      dirs.push(dir);
      await cp(join(token.dir, "tokens"), join(dir, "tokens"), { recursive: true });
      const conf = join(dir, "softhsm2.conf");
      await writeFile(
        conf,
        `directories.tokendir = ${join(dir, "tokens")}\nobjectstore.backend = file\nlog.level = ERROR\n`,
      );
      envs.push({ ...token.env, SOFTHSM2_CONF: conf });
    }
  } catch (error) {
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
    throw error;
  }
  return {
    envs,
    cleanup: async () => {
      await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
    },
  };
}

/** One worker process of a bench fleet. */
export interface WorkerHost {
  name: string;
  child: ChildProcess;
  /** Resolves once the process has exited and its output is read to the end. */
  closed: Promise<unknown>;
  /** Everything it wrote (stdout and stderr), for the summary line and for failures. */
  output(): string;
}

/**
 * Starts `bench/lib/worker-host.ts` in a child process and waits for its `ready` line. `nodeArgs` go to node
 * itself (e.g. `--cpu-prof`, which NODE_OPTIONS does not accept).
 */
export async function startWorkerHost(
  name: string,
  args: string[],
  env: Record<string, string>,
  nodeArgs: string[] = [],
): Promise<WorkerHost> {
  const child = spawn(process.execPath, [...nodeArgs, "--import", "tsx", WORKER_HOST, ...args], {
    env: { PATH: process.env["PATH"] ?? "", NODE_NO_WARNINGS: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk) => (output += chunk));
  child.stderr.on("data", (chunk) => (output += chunk));
  const host: WorkerHost = { name, child, closed: once(child, "close"), output: () => output };
  const started = performance.now();
  while (!/^ready$/m.test(output)) {
    if (
      child.exitCode !== null ||
      child.signalCode !== null ||
      performance.now() - started > READY_TIMEOUT_MS
    ) {
      child.kill("SIGKILL");
      throw new Error(`worker host ${name} did not start: ${output.trim().slice(-800)}`);
    }
    await sleep(50);
  }
  return host;
}

/**
 * Stops worker hosts as an operator would (SIGTERM: running phases finish), SIGKILL after `deadlineMs`,
 * and returns each one's phase counts (from its last JSON line; empty when killed).
 */
export async function stopWorkerHosts(
  hosts: WorkerHost[],
  deadlineMs = 15_000,
): Promise<Array<Record<string, number>>> {
  return Promise.all(
    hosts.map(async (host) => {
      const forced = setTimeout(() => host.child.kill("SIGKILL"), deadlineMs);
      if (host.child.exitCode === null && host.child.signalCode === null) host.child.kill("SIGTERM");
      await host.closed;
      clearTimeout(forced);
      const summary = host
        .output()
        .split("\n")
        .reverse()
        .find((line) => line.startsWith('{"phases"'));
      return summary ? (JSON.parse(summary) as { phases: Record<string, number> }).phases : {};
    }),
  );
}
