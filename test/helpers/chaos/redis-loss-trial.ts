import { setTimeout as sleep } from "node:timers/promises";
import type { SampleKey } from "../../../src/testkit/sample-keys.js";
import { PROVENANCE_TAGS } from "../../../src/workers/phases/index.js";
import { runCli } from "../cli.js";
import { cliEnvironment, manifestFor } from "../fleet.js";
import { startKmsEmulator } from "../kms-emulator.js";
import { emulatorKms } from "../pipeline.js";
import type { TestToken } from "../softhsm.js";
import type { Random } from "./random.js";
import { OwnRedis } from "./redis-server.js";
import { finishedKeys } from "./redis-trial.js";
import { WorkerProcesses } from "./worker-processes.js";

export interface RedisLossTrialOptions {
  rng: Random;
  token: TestToken;
  keys: SampleKey[];
  /** Worker processes. @defaultValue 2 */
  workers?: number;
}

export interface RedisLossReport {
  /** Everything that did not hold; empty when the trial passed. */
  problems: string[];
  /** Keys finished (migrated or failed) when Redis was killed. */
  finishedBeforeLoss: number;
  /** KMS keys the campaign made (every one must carry its `hsm2kms:campaign` tag). */
  kmsKeys: number;
}

const PREFIX = "h2k-redis-loss";

/** Lines of a process's output that are neither a JSON log line nor the CLI's one-line error. */
export function strayLines(output: string): string[] {
  return output
    .split("\n")
    .filter((line) => line.trim() !== "")
    .filter((line) => !line.startsWith("hsm2kms: "))
    .filter((line) => {
      try {
        JSON.parse(line);
        return false;
      } catch {
        return true;
      }
    });
}

/**
 * One trial of the loss issue #20 describes: a Redis with no persistence, worker processes migrating the
 * keys, Redis kill -9'd after a seeded number of finished keys and restarted empty after a seeded pause.
 * Every worker must exit 1 naming the lost campaign, with JSON lines only on its output (no reconnect
 * traces); `status`, `report`, `retry` and `worker --until-idle` must exit 1 saying that no campaign
 * exists, and `status` must say how many KMS keys carry the campaign's tag; every KMS key the campaign made
 * must carry that tag. Then the manifest is enqueued again and run: no source key may end with two live KMS keys.
 */
export async function runRedisLossTrial(options: RedisLossTrialOptions): Promise<RedisLossReport> {
  const { rng, keys } = options;
  const problems: string[] = [];
  const server = await OwnRedis.start("none");
  const emulator = await startKmsEmulator({ quotas: false, acceptKwpZeroPadding: true, latencyMs: [20, 80] });
  const env = cliEnvironment(options.token.env, emulator.url, PREFIX, {
    REDIS_URL: server.url,
    HSM2KMS_LOG_LEVEL: "info",
    HSM2KMS_JOB_LOCK: "3s",
    HSM2KMS_KMS_QUOTAS: "CreateKey=500,GetParametersForImport=500,ImportKeyMaterial=500,Sign=500",
  });
  const workers = new WorkerProcesses(env);
  try {
    await server.enqueue(PREFIX, manifestFor(keys));
    workers.start(options.workers ?? 2);
    await workers.waitUntilStarted();

    const after = rng.int(1, Math.max(1, keys.length - 1));
    const deadline = Date.now() + 60_000;
    let finished = await finishedKeys(server.url, PREFIX);
    while (Date.now() < deadline && finished < after) {
      await sleep(rng.int(5, 50));
      finished = await finishedKeys(server.url, PREFIX);
    }
    await server.kill9();
    await sleep(rng.int(300, 1500));
    await server.restart();

    // The campaign marker is read every 2 s and at once on reconnect: the workers notice within seconds.
    const codes = await workers.exits(30_000);
    workers.outputs().forEach((output, n) => {
      if (codes[n] !== 1) problems.push(`worker ${n} exited ${codes[n]} after the loss, not 1`);
      if (!output.includes(`the ledger of campaign ${PREFIX}`))
        problems.push(`worker ${n} did not say that the ledger of campaign ${PREFIX} was lost`);
      const stray = strayLines(output);
      if (stray.length > 0)
        problems.push(`worker ${n} wrote ${stray.length} non-JSON line(s), e.g. ${JSON.stringify(stray[0])}`);
    });

    const kms = await campaignKeys(emulator.url, PREFIX);
    if (kms.untagged.length > 0)
      problems.push(`KMS keys without the campaign tag ${PREFIX}: ${kms.untagged.join(", ")}`);
    if (kms.tagged < finished) problems.push(`${finished} keys finished but KMS holds ${kms.tagged} keys`);

    const commands = [["status"], ["report"], ["retry", "--failed"], ["worker", "--until-idle"]];
    const runs = await Promise.all(commands.map((command) => runCli(command, env)));
    runs.forEach((run, n) => {
      const command = commands[n]!.join(" ");
      if (run.code !== 1) problems.push(`${command} exited ${run.code} after the loss, not 1`);
      if (!run.output.includes(`no campaign exists under the prefix ${PREFIX}`))
        problems.push(`${command} did not say that no campaign exists: ${run.output.slice(-500)}`);
    });
    // The loss is reported with what KMS holds: the keys the lost ledger tracked, found by their campaign tag.
    const said = `KMS keys tagged ${PROVENANCE_TAGS.campaign}=${PREFIX}: ${kms.tagged} in us-east-1`;
    if (!runs[0]?.output.includes(said))
      problems.push(`status did not report "${said}": ${runs[0]?.output.slice(-500)}`);

    // The same manifest enqueued again (the rows have no alias): each key adopts the KMS key the lost campaign
    // made for it, found by its migration-id tag, and no source key ends with two.
    await server.enqueue(PREFIX, manifestFor(keys));
    const rerun = await runCli(["worker", "--until-idle"], env);
    if (rerun.code !== 0) problems.push(`worker --until-idle after re-enqueueing exited ${rerun.code}`);
    const perSource = await liveKeysPerMigration(emulator.url);
    for (const [migrationId, keyIds] of perSource)
      if (keyIds.length > 1)
        problems.push(`migration ${migrationId} holds ${keyIds.length} live KMS keys: ${keyIds.join(", ")}`);
    if (perSource.size !== keys.length)
      problems.push(
        `${keys.length} source keys but ${perSource.size} of them hold a live KMS key after the re-run`,
      );
    if (problems.length > 0) problems.push(`worker output (tail):\n${workers.output().slice(-3000)}`);
    return { problems, finishedBeforeLoss: finished, kmsKeys: kms.tagged };
  } finally {
    await workers.killAll();
    await emulator.close();
    await server.stop();
  }
}

/** The KMS keys not pending deletion, by the migration id they are tagged with. */
async function liveKeysPerMigration(url: string): Promise<Map<string, string[]>> {
  const kms = emulatorKms(url);
  const perMigration = new Map<string, string[]>();
  try {
    for await (const keyId of kms.listKeyIds()) {
      const key = await kms.describeKey(keyId);
      if (!key || key.keyState === "PendingDeletion") continue;
      const migrationId = (await kms.listResourceTags(keyId))[PROVENANCE_TAGS.migrationId] ?? "(untagged)";
      perMigration.set(migrationId, [...(perMigration.get(migrationId) ?? []), keyId]);
    }
  } finally {
    kms.close();
  }
  return perMigration;
}

/** Every KMS key in the emulator and whether it carries the campaign tag. */
export async function campaignKeys(
  url: string,
  prefix: string,
): Promise<{ tagged: number; untagged: string[] }> {
  const kms = emulatorKms(url);
  let tagged = 0;
  const untagged: string[] = [];
  try {
    for await (const keyId of kms.listKeyIds()) {
      const tags = await kms.listResourceTags(keyId);
      if (tags[PROVENANCE_TAGS.campaign] === prefix) tagged++;
      else untagged.push(keyId);
    }
  } finally {
    kms.close();
  }
  return { tagged, untagged };
}
