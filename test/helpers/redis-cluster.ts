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
          "--save",
          "",
          "--appendonly",
          "no",
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
    await run("redis-cli", [
      "--cluster",
      "create",
      ...ports.map((port) => `127.0.0.1:${port}`),
      "--cluster-replicas",
      String(replicasPerMaster),
      "--cluster-yes",
    ]);
    for (
      let tries = 0;
      tries < 100 && (await Promise.all(ports.map(clusterState))).some((state) => state !== "ok");
      tries++
    )
      await sleep(200);
    return { ports, url: `redis+cluster://${ports.map((port) => `127.0.0.1:${port}`).join(",")}`, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
