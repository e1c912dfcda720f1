import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../src/shared/logger.js";
import { judgeDurability, parseInfo } from "../../src/shared/redis-durability.js";
import { isConnectionError, RedisOutageLog } from "../../src/shared/redis-outage.js";

const AOF = { aof_enabled: "1", aof_last_write_status: "ok", rdb_saves: "0", maxmemory_policy: "noeviction" };
const NOTHING = {
  aof_enabled: "0",
  rdb_saves: "0",
  rdb_last_bgsave_status: "ok",
  maxmemory_policy: "noeviction",
};

describe("judgeDurability (INFO persistence and memory of one node)", () => {
  it("parses INFO's field:value lines, skipping section headers", () => {
    expect(
      parseInfo(
        "# Persistence\r\nloading:0\r\naof_enabled:1\r\n\r\n# Memory\r\nmaxmemory_policy:noeviction\r\n",
      ),
    ).toEqual({
      loading: "0",
      aof_enabled: "1",
      maxmemory_policy: "noeviction",
    });
  });

  it("accepts AOF with noeviction", () => {
    expect(judgeDurability(AOF)).toEqual({ problems: [], warnings: [] });
  });

  it("refuses no AOF and no snapshot since start-up, saying INFO cannot show 'save' and what to set", () => {
    const { problems } = judgeDurability(NOTHING);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain("aof_enabled:0");
    expect(problems[0]).toContain("rdb_saves:0");
    expect(problems[0]).toContain("INFO cannot show whether 'save' is configured");
    expect(problems[0]).toContain("appendonly yes");
  });

  it("accepts successful RDB snapshots with a warning (the writes since the last one are lost on a restart)", () => {
    const verdict = judgeDurability({ ...NOTHING, rdb_saves: "3" });
    expect(verdict.problems).toEqual([]);
    expect(verdict.warnings[0]).toContain("only RDB snapshots (rdb_saves:3)");
  });

  it("refuses snapshots that fail and an AOF whose writes fail", () => {
    expect(
      judgeDurability({ ...NOTHING, rdb_saves: "3", rdb_last_bgsave_status: "err" }).problems[0],
    ).toContain("rdb_last_bgsave_status:err");
    expect(judgeDurability({ ...AOF, aof_last_write_status: "err" }).problems[0]).toContain(
      "aof_last_write_status:err",
    );
  });

  it("refuses an eviction policy other than noeviction, or none shown", () => {
    expect(judgeDurability({ ...AOF, maxmemory_policy: "allkeys-lru" }).problems).toEqual([
      expect.stringContaining("maxmemory_policy:allkeys-lru"),
    ]);
    const { maxmemory_policy: _, ...withoutPolicy } = AOF;
    expect(judgeDurability(withoutPolicy).problems[0]).toContain("not shown by INFO memory");
    expect(judgeDurability({ ...NOTHING, maxmemory_policy: "volatile-lru" }).problems).toHaveLength(2);
  });
});

describe("RedisOutageLog", () => {
  function harness() {
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    });
    let now = 1_000_000;
    const log = new RedisOutageLog(createLogger({ destination: sink }), "redis://h:1", 30_000, () => now);
    return { lines, log, advance: (ms: number) => (now += ms) };
  }
  const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" });

  it("logs one line when Redis goes away, one per 30 s while it stays away, one when it is back", async () => {
    const { lines, log, advance } = harness();
    for (let n = 0; n < 50; n++) {
      log.error(refused, "queue");
      advance(100);
    }
    expect(log.down).toBe(true);
    advance(25_100);
    log.error(refused);
    log.recovered();
    log.recovered();
    log.error(refused);
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines.map((line) => line["msg"])).toEqual([
      "Redis is unavailable: work pauses and every connection keeps retrying",
      "Redis is still unavailable",
      "Redis answers again",
      "Redis is unavailable: work pauses and every connection keeps retrying",
    ]);
    expect(lines[0]).toMatchObject({ redis: "redis://h:1", err: refused.message, source: "queue" });
    expect(lines[1]).toMatchObject({ failures: 50, downForMs: 30_100 });
  });

  it("tells connection failures from other errors", () => {
    expect(isConnectionError(refused)).toBe(true);
    expect(isConnectionError(new Error("Connection is closed."))).toBe(true);
    expect(isConnectionError(new Error("ERR wrong number of arguments for 'hset' command"))).toBe(false);
  });
});
