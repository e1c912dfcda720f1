import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { enqueueManifest } from "../../../src/campaign/enqueue.js";
import { Ledger } from "../../../src/shared/ledger/index.js";
import { PhaseQueues } from "../../../src/shared/queues.js";
import { freePort } from "../ports.js";
import { trackChild } from "./children.js";

/** `aof`: every write fsynced to an AOF; `none`: nothing on disk (a restart comes back empty). */
export type OwnRedisPersistence = "aof" | "none";

/**
 * A redis-server of the test's own, on a free port with its data in a temporary directory and (by default)
 * AOF persistence fsynced on every write: it can be kill -9'd and restarted on the same port and directory,
 * or stopped with SIGSTOP, without touching the shared Redis.
 */
export class OwnRedis {
  private process: ChildProcess | undefined;
  private exited: Promise<unknown> | undefined;

  private constructor(
    readonly port: number,
    readonly dir: string,
    readonly persistence: OwnRedisPersistence,
  ) {}

  static async start(persistence: OwnRedisPersistence = "aof"): Promise<OwnRedis> {
    const dir = await mkdtemp(join(tmpdir(), "hsm2kms-redis-"));
    const redis = new OwnRedis(await freePort(), dir, persistence);
    await redis.launch();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  private async launch(): Promise<void> {
    const child = spawn(
      "redis-server",
      [
        "--port",
        String(this.port),
        "--bind",
        "127.0.0.1",
        "--dir",
        this.dir,
        "--appendonly",
        this.persistence === "aof" ? "yes" : "no",
        "--appendfsync",
        "always",
        "--save",
        "",
        "--maxmemory-policy",
        "noeviction",
      ],
      { stdio: "ignore" },
    );
    this.process = child;
    trackChild(child);
    this.exited = new Promise((resolve) => child.once("exit", resolve));
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const probe = new Redis(this.url, {
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      probe.on("error", () => undefined);
      try {
        await probe.connect();
        // AOF is loaded before Redis answers PING with PONG (it answers LOADING until then).
        if ((await probe.ping()) === "PONG") return;
      } catch {
        // not up yet
      } finally {
        probe.disconnect();
      }
      await sleep(50);
    }
    throw new Error(`redis-server on port ${this.port} did not start`);
  }

  /** kill -9: no shutdown, no final fsync beyond what appendfsync always already did. */
  async kill9(): Promise<void> {
    this.process?.kill("SIGKILL");
    await this.exited;
    this.process = undefined;
  }

  /** Enqueues a manifest's text under `prefix` in this process (no CLI start-up to wait for). */
  async enqueue(prefix: string, manifest: string): Promise<void> {
    const redis = new Redis(this.url, { maxRetriesPerRequest: null });
    const queues = new PhaseQueues(redis, prefix);
    try {
      await enqueueManifest(Readable.from([manifest]), {
        defaultRegion: "us-east-1",
        ledger: new Ledger(redis, prefix),
        queues,
      });
    } finally {
      await queues.close();
      redis.disconnect();
    }
  }

  /** SIGSTOP: the port still accepts connections, nothing answers (a hung server). */
  pause(): void {
    this.process?.kill("SIGSTOP");
  }

  /** SIGCONT after pause(). */
  resume(): void {
    this.process?.kill("SIGCONT");
  }

  /** Starts it again on the same port and directory (it replays its AOF, if it has one). */
  async restart(): Promise<void> {
    await this.launch();
  }

  async stop(): Promise<void> {
    this.resume();
    if (this.process) await this.kill9();
    await rm(this.dir, { recursive: true, force: true });
  }
}
