import { Redis } from "ioredis";

/**
 * Counts what this process sends to Redis, by patching ioredis: every command, and round trips (a
 * command sent on its own, or one pipeline / MULTI batch). Exact for this process whatever other clients
 * of the shared Redis do; Lua scripts count as the one EVALSHA that carries them.
 */
export class ClientCommandCounter {
  commands = 0;
  roundTrips = 0;
  /** Round trips by what started them: a command's name, a script's first key's last part, or "pipeline". */
  readonly roundTripsBy = new Map<string, number>();
  private readonly batches = new WeakSet<object>();
  private restore: (() => void) | undefined;

  start(): this {
    const original = Redis.prototype.sendCommand;
    const counter = this;
    Redis.prototype.sendCommand = function sendCommand(
      this: Redis,
      ...args: Parameters<Redis["sendCommand"]>
    ) {
      counter.commands++;
      const stream = args[1] as object | undefined;
      if (!stream) counter.count(describe(args[0]));
      else if (!counter.batches.has(stream)) {
        counter.batches.add(stream);
        counter.count(`pipeline from ${describe(args[0])}`);
      }
      return original.apply(this, args);
    } as Redis["sendCommand"];
    this.restore = () => {
      Redis.prototype.sendCommand = original;
    };
    return this;
  }

  private count(what: string): void {
    this.roundTrips++;
    this.roundTripsBy.set(what, (this.roundTripsBy.get(what) ?? 0) + 1);
  }

  stop(): { commands: number; roundTrips: number; roundTripsBy: Record<string, number> } {
    this.restore?.();
    this.restore = undefined;
    const by = [...this.roundTripsBy].sort((a, b) => b[1] - a[1]);
    return { commands: this.commands, roundTrips: this.roundTrips, roundTripsBy: Object.fromEntries(by) };
  }
}

/** A command as a breakdown shows it: EVALSHA by its script's first key with ids and prefixes cut off. */
function describe(command: unknown): string {
  const { name, args } = command as { name?: string; args?: unknown[] };
  if (name !== "evalsha" && name !== "eval") return String(name);
  const firstKey = String(args?.[2] ?? "");
  if (firstKey.includes(":rec:")) return "script on a ledger record";
  return `script on ${firstKey.split(":").at(-1) ?? "?"}`;
}

/** Total calls over every command in `INFO commandstats` (server-wide: other clients included). */
export async function serverCommandCalls(redis: Redis): Promise<number> {
  const text = await redis.info("commandstats");
  let total = 0;
  for (const match of text.matchAll(/^cmdstat_[^:]+:calls=(\d+)/gm)) total += Number(match[1]);
  return total;
}

/** `used_memory` from `INFO memory`, bytes (server-wide). */
export async function usedMemory(redis: Redis): Promise<number> {
  const text = await redis.info("memory");
  return Number(/^used_memory:(\d+)/m.exec(text)?.[1] ?? Number.NaN);
}

/** Number of keys and sum of MEMORY USAGE over every key matching `pattern` (SCAN, pipelined). */
export async function memoryUnder(redis: Redis, pattern: string): Promise<{ keys: number; bytes: number }> {
  let cursor = "0";
  let keys = 0;
  let bytes = 0;
  do {
    const [next, batch] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 2000);
    cursor = next;
    if (batch.length === 0) continue;
    const pipeline = redis.pipeline();
    for (const key of batch) pipeline.memory("USAGE", key, "SAMPLES", "0");
    for (const [error, usage] of (await pipeline.exec()) ?? []) {
      if (error) continue;
      keys++;
      bytes += Number(usage ?? 0);
    }
  } while (cursor !== "0");
  return { keys, bytes };
}
