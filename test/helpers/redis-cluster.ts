import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { freePort } from "./ports.js";

const run = promisify(execFile);

export interface LocalRedisCluster {
  ports: number[];
  /** `redis+cluster://127.0.0.1:p1,...` */
  url: string;
  /** Kills one node (SIGKILL), as a crashed master. */
  kill(port: number): void;
  /**
   * Waits until the replicas of the master on `port` hold everything it had written when asked. Replication
   * is asynchronous: a master killed before its replica caught up loses its last writes, which Redis Cluster
   * documents; a test that means a clean failover waits for this first.
   */
  replicated(port: number): Promise<void>;
  /** The port of the master serving the slot of `key`. */
  masterFor(key: string): Promise<number>;
  stop(): Promise<void>;
}

async function clusterState(port: number): Promise<string> {
  try {
    const { stdout } = await run("redis-cli", ["-p", String(port), "cluster", "info"]);
    return /cluster_state:(\w+)/.exec(stdout)?.[1] ?? "unknown";
  } catch {
    return "down";
  }
}

async function info(port: number, section: string): Promise<Map<string, string>> {
  const { stdout } = await run("redis-cli", ["-p", String(port), "info", section]);
  return new Map(
    stdout
      .split(/\r?\n/)
      .filter((line) => line.includes(":"))
      .map((line) => [line.slice(0, line.indexOf(":")), line.slice(line.indexOf(":") + 1)]),
  );
}

/** A replica has finished its first full synchronisation and follows its master's stream. */
async function replicaInSync(port: number): Promise<boolean> {
  const replication = await info(port, "replication");
  return (
    replication.get("role") !== "slave" ||
    (replication.get("master_link_status") === "up" && replication.get("master_sync_in_progress") === "0")
  );
}

async function connectedReplicas(port: number): Promise<number> {
  const { stdout } = await run("redis-cli", ["-p", String(port), "cluster", "nodes"]);
  return stdout.split("\n").filter((line) => line.includes("slave") && line.includes(" connected")).length;
}

/**
 * A real Redis Cluster on loopback: `masters` masters (and `replicasPerMaster` replicas each), throwaway
 * data, free ports, created with `redis-cli --cluster create`. `stop()` kills every node and removes its files.
 */
export async function startRedisCluster(masters = 3, replicasPerMaster = 0): Promise<LocalRedisCluster> {
  const dir = await mkdtemp(join(tmpdir(), "h2k-cluster-"));
  const ports: number[] = [];
  const nodes: ChildProcess[] = [];
  const stop = async () => {
    for (const node of nodes) node.kill("SIGKILL");
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (let n = 0; n < masters * (1 + replicasPerMaster); n++) {
      const port = await freePort();
      ports.push(port);
      const nodeDir = join(dir, String(port));
      await run("mkdir", ["-p", nodeDir]);
      const node = spawn(
        "redis-server",
        [
          "--port",
          String(port),
          "--bind",
          "127.0.0.1",
          "--cluster-enabled",
          "yes",
          "--cluster-config-file",
          "nodes.conf",
          "--cluster-node-timeout",
          "2000",
          "--cluster-replica-validity-factor",
          "0",
          "--save",
          "",
          "--appendonly",
          "no",
          // A replica's first synchronisation starts at once (Redis waits 5 s by default to batch replicas).
          "--repl-diskless-sync-delay",
          "0",
          "--dir",
          nodeDir,
        ],
        { stdio: "ignore" },
      );
      nodes.push(node);
    }
    for (const port of ports)
      for (let tries = 0; tries < 50; tries++) {
        if ((await clusterState(port)) !== "down") break;
        await sleep(100);
      }
    const create = [
      "--cluster",
      "create",
      ...ports.map((port) => `127.0.0.1:${port}`),
      "--cluster-replicas",
      String(replicasPerMaster),
      "--cluster-yes",
    ];
    // On a busy machine a node may still be loading when `create` first asks it: try a few times.
    for (let attempt = 1; ; attempt++) {
      try {
        await run("redis-cli", create);
        break;
      } catch (error) {
        const failed = error as { stdout?: string; stderr?: string; message: string };
        if (attempt >= 5)
          throw new Error(
            `redis-cli --cluster create failed: ${failed.stdout ?? ""}${failed.stderr ?? failed.message}`,
          );
        await sleep(500 * attempt);
      }
    }
    for (
      let tries = 0;
      tries < 100 && (await Promise.all(ports.map(clusterState))).some((state) => state !== "ok");
      tries++
    )
      await sleep(200);
    // Replicas attach after `create` returns: a failover needs them connected.
    for (
      let tries = 0;
      tries < 100 && (await connectedReplicas(ports[0]!)) < masters * replicasPerMaster;
      tries++
    )
      await sleep(200);
    // "connected" above is the cluster bus. Until a replica's first full synchronisation ends it holds
    // nothing, and with a validity factor of 0 it would still be promoted: a failover then loses everything.
    for (let tries = 0; tries < 150 && !(await Promise.all(ports.map(replicaInSync))).every(Boolean); tries++)
      await sleep(200);
    const replicated = async (port: number) => {
      const target = Number((await info(port, "replication")).get("master_repl_offset"));
      // INFO's "slave0:ip=...,offset=N,..." lines: what each replica has acknowledged.
      const acknowledged = async () =>
        [...(await info(port, "replication")).entries()]
          .filter(([name]) => /^slave\d+$/.test(name))
          .map(([, value]) => Number(/offset=(\d+)/.exec(value)?.[1] ?? -1));
      for (let tries = 0; tries < 100; tries++) {
        const offsets = await acknowledged();
        if (offsets.length > 0 && offsets.every((offset) => offset >= target)) return;
        await sleep(50);
      }
      throw new Error(`the replicas of 127.0.0.1:${port} did not reach its replication offset ${target}`);
    };
    const masterFor = async (key: string) => {
      const { stdout: slot } = await run("redis-cli", ["-p", String(ports[0]), "cluster", "keyslot", key]);
      const { stdout: nodesText } = await run("redis-cli", ["-p", String(ports[0]), "cluster", "nodes"]);
      for (const line of nodesText.trim().split("\n")) {
        const fields = line.split(" ");
        if (!fields[2]?.includes("master") || fields[2].includes("fail")) continue;
        for (const range of fields.slice(8)) {
          const [from, to = from] = range.split("-").map(Number);
          if (Number(slot) >= (from ?? 0) && Number(slot) <= (to ?? -1))
            return Number(/:(\d+)@/.exec(fields[1] ?? "")?.[1]);
        }
      }
      throw new Error(`no master serves the slot of ${key}`);
    };
    return {
      ports,
      url: `redis+cluster://${ports.map((port) => `127.0.0.1:${port}`).join(",")}`,
      kill: (port) => nodes[ports.indexOf(port)]?.kill("SIGKILL"),
      replicated,
      masterFor,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
