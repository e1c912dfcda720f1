import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, inject } from "vitest";
import { leakRegistry, OWNER_VARIABLE } from "./leak-registry.js";
import { type FoundProcess, findProcesses, killAll } from "./leaked-processes.js";

/**
 * The leak guard, a vitest setup file: runs around every test file and FAILS the file when, after its own
 * afterAll hooks, it left behind
 * - a child process (a descendant of the test process, or any process carrying the file's owner mark),
 * - keys in Redis under a prefix it got from randomPrefix (its queues or its ledger),
 * - a listening server in the test process (a KMS emulator, a metrics server, a fake endpoint).
 * What it finds it also ends (processes killed, keys deleted), so that one leak does not spread through the
 * rest of the run. The global setup's teardown does the same for processes of a file that never reached this
 * hook (a fork killed on timeout). Fix a finding with the withX fixtures in test/helpers/fixtures.ts.
 */

const REDIS_URL = process.env["REDIS_URL"] ?? "redis://127.0.0.1:6379";
/** How long processes a test killed at its end may take to be reaped before they count as left behind. */
const REAP_GRACE_MS = 5000;

process.env[OWNER_VARIABLE] = `${inject("leakRunId") ?? "run"}.${randomBytes(4).toString("hex")}`;

let serversBefore = 0;
const listeningServers = () =>
  process.getActiveResourcesInfo().filter((type) => type === "TCPServerWrap" || type === "PipeServerWrap")
    .length;

beforeAll(() => {
  serversBefore = listeningServers();
});

async function leftProcesses(): Promise<FoundProcess[]> {
  const mark = process.env[OWNER_VARIABLE] ?? "";
  const deadline = Date.now() + REAP_GRACE_MS;
  for (;;) {
    const found = await findProcesses({ root: process.pid, markPrefix: mark });
    if (found.length === 0 || Date.now() > deadline) return found;
    await sleep(100);
  }
}

async function leftRedisKeys(): Promise<Array<{ prefix: string; count: number; example: string }>> {
  const prefixes = [...leakRegistry().redisPrefixes];
  if (prefixes.length === 0) return [];
  // Loaded only here: unit files that never touch Redis do not pay for the client.
  const [{ Redis }, { deleteKeysMatching }] = await Promise.all([
    import("ioredis"),
    import("../../src/shared/redis-scan.js"),
  ]);
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  const left: Array<{ prefix: string; count: number; example: string }> = [];
  try {
    await redis.connect();
    for (const prefix of prefixes)
      for (const pattern of [`${prefix}*`, `{${prefix}*`]) {
        const [, keys] = await redis.scan("0", "MATCH", pattern, "COUNT", 100_000);
        if (keys.length === 0) continue;
        left.push({
          prefix: pattern,
          count: await deleteKeysMatching(redis, pattern),
          example: keys[0] ?? "",
        });
      }
  } finally {
    redis.disconnect();
  }
  return left;
}

afterAll(async () => {
  const problems: string[] = [];
  const processes = await leftProcesses();
  killAll(processes);
  for (const { pid, command } of processes) problems.push(`a process still running: pid ${pid} (${command})`);
  for (const { prefix, count, example } of await leftRedisKeys())
    problems.push(`${count} Redis key(s) matching ${prefix} (e.g. ${example})`);
  const servers = listeningServers() - serversBefore;
  if (servers > 0)
    problems.push(
      `${servers} server(s) still listening in the test process (a KMS emulator? a metrics server?)`,
    );
  if (problems.length > 0)
    throw new Error(
      `leak guard: this test file left behind:\n- ${problems.join("\n- ")}\nTear it down in afterAll, or use the withX fixtures of test/helpers/fixtures.ts, which always do (what was found has now been killed or deleted).`,
    );
});
