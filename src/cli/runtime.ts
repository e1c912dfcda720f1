import { readFileSync } from "node:fs";
import type { Logger } from "pino";
import {
  type Config,
  type ConfigFlags,
  type HsmConfig,
  loadConfig,
  redactUrl,
  requireHsm,
} from "../shared/config.js";
import { ConfigError, isMigrationError } from "../shared/errors.js";
import type { HsmPort } from "../shared/hsm/types.js";
import type { Ledger } from "../shared/ledger/index.js";
import type { PhaseQueues } from "../shared/queues.js";
import type { RedisConnection } from "../shared/redis.js";
import type { RedisOutageLog } from "../shared/redis-outage.js";
import { isCommandTimeout, RedisTimeoutError, withRedisTimeout } from "../shared/redis-target.js";

export const TOOL_VERSION: string = (
  JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }
).version;

/** Flags every Redis-using command takes (they override the environment). */
export interface CommonFlags {
  redisUrl?: string;
  region?: string;
  prefix?: string;
}

export function configFrom(flags: CommonFlags): Config {
  const configFlags: ConfigFlags = {};
  if (flags.redisUrl !== undefined) configFlags.redisUrl = flags.redisUrl;
  if (flags.region !== undefined) configFlags.region = flags.region;
  if (flags.prefix !== undefined) configFlags.queuePrefix = flags.prefix;
  return loadConfig(process.env, configFlags);
}

/** What a command holds open; `close()` releases all of it. */
export interface Runtime {
  config: Config;
  logger: Logger;
  redis: RedisConnection;
  ledger: Ledger;
  queues: PhaseQueues;
  /** Redis errors of every connection, Worker and Queue, as one rate-limited log line per outage. */
  outage: RedisOutageLog;
  close(): Promise<void>;
}

export interface RuntimeOptions {
  /**
   * Refuse a Redis that can lose the ledger (workers, enqueue, migrate), unless
   * HSM2KMS_ALLOW_VOLATILE_REDIS=true. @defaultValue false
   */
  checkDurability?: boolean;
  /**
   * A long-running worker: its connection is shared with BullMQ's blocking reads, so it gets no per-command
   * timeout (the fleet bounds its own reads) and rides out an outage. Every other command fails after
   * HSM2KMS_REDIS_TIMEOUT instead of hanging. @defaultValue false
   */
  longRunning?: boolean;
}

/** The Redis this process opened last: main.ts names it when a command times out. */
let opened: { url: string; timeoutMs: number } | undefined;

/** A clear message for a Redis command that timed out (ioredis says only "Command timed out"). */
export function explainRedisFailure(error: unknown): string | undefined {
  if (error instanceof RedisTimeoutError) return error.message;
  if (isCommandTimeout(error) && opened) return new RedisTimeoutError(opened.url, opened.timeoutMs).message;
  return undefined;
}

/**
 * Connects to Redis: fails fast with the URL (password hidden) when it refuses the connection (exit 2), and
 * after HSM2KMS_REDIS_TIMEOUT when it accepts but does not answer (exit 1).
 */
export async function openRuntime(
  config: Config,
  component: string,
  options: RuntimeOptions = {},
): Promise<Runtime> {
  // Loaded here, not at the top: `--help`, `--version` and `config` start without ioredis and BullMQ.
  const [{ createLogger }, { createRedisConnection }, { RedisOutageLog }, { checkRedisDurability }] =
    await Promise.all([
      import("../shared/logger.js"),
      import("../shared/redis.js"),
      import("../shared/redis-outage.js"),
      import("../shared/redis-durability.js"),
    ]);
  const logger = createLogger({ level: config.logLevel, format: config.logFormat, base: { component } });
  const url = redactUrl(config.redisUrl);
  const timeoutMs = config.redisTimeoutMs;
  opened = { url, timeoutMs };
  const redis = createRedisConnection(config.redisUrl, {
    maxRetriesPerRequest: null,
    lazyConnect: true,
    connectTimeout: Math.min(5000, timeoutMs),
    ...(options.longRunning ? {} : { commandTimeout: timeoutMs }),
  });
  const outage = new RedisOutageLog(logger, url);
  // Before the first answer a failure is the start-up error below, not an outage to log.
  let connected = false;
  redis.on("error", (error: Error) => {
    if (connected) outage.error(error, "connection");
    else logger.debug({ err: error.message }, "redis connection error");
  });
  redis.on("ready", () => outage.recovered());
  try {
    await withRedisTimeout(
      (async () => {
        await redis.connect();
        await redis.ping();
        connected = true;
        if (options.checkDurability)
          await checkRedisDurability(redis, { url, allowVolatile: config.allowVolatileRedis, logger });
      })(),
      { url, timeoutMs, what: "answer at start-up" },
    );
  } catch (error) {
    redis.disconnect();
    if (error instanceof ConfigError || error instanceof RedisTimeoutError) throw error;
    throw new ConfigError(
      `cannot reach Redis at ${url} (${(error as Error).message}): start it or set REDIS_URL`,
    );
  }
  const [{ Ledger }, { PhaseQueues }] = await Promise.all([
    import("../shared/ledger/index.js"),
    import("../shared/queues.js"),
  ]);
  const ledger = new Ledger(redis, config.queuePrefix);
  const queues = new PhaseQueues(redis, config.queuePrefix, (error) => outage.error(error, "queue"));
  return {
    config,
    logger,
    redis,
    ledger,
    queues,
    outage,
    close: async () => {
      // A Queue waits for its connection to close; when Redis does not answer that could be for ever.
      await Promise.race([queues.close(), new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
      redis.disconnect();
    },
  };
}

/** Opens the HSM configured in the environment, with a session per concurrent HSM job. */
export async function openHsm(config: Config, logger: Logger): Promise<HsmPort> {
  const hsm = requireHsm(config);
  // pkcs11js (a native addon) is loaded only by the commands that open the HSM.
  const { openPkcs11Hsm } = await import("../shared/hsm/index.js");
  try {
    return await openPkcs11Hsm(hsm, { sessions: config.hsmConcurrency, logger });
  } catch (error) {
    throw hsmConfigProblem(error, hsm) ?? error;
  }
}

/**
 * A failure to open the HSM that only a change of configuration can fix (library, token, PIN), as a
 * ConfigError (exit 2) naming the variable; undefined for anything else (an HSM that is down stays exit 1).
 */
export function hsmConfigProblem(error: unknown, hsm: HsmConfig): ConfigError | undefined {
  if (!isMigrationError(error)) return undefined;
  const selector = hsm.tokenLabel !== undefined ? "HSM2KMS_TOKEN_LABEL" : "HSM2KMS_PKCS11_SLOT";
  switch (error.code) {
    case "HSM_LIBRARY_UNAVAILABLE":
      return new ConfigError(`${error.message} (HSM2KMS_PKCS11_LIB=${JSON.stringify(hsm.library)})`);
    case "HSM_TOKEN_NOT_FOUND":
    case "HSM_TOKEN_AMBIGUOUS":
      return new ConfigError(`${error.message}: check ${selector}`);
    case "HSM_LOGIN_FAILED": {
      const source = hsm.pinSource ?? "HSM2KMS_PKCS11_PIN_FILE";
      const reason = /CKR_[A-Z_]+/.exec(error.message)?.[0] ?? "a login failure";
      return new ConfigError(
        `the HSM token refused the PIN from ${source} (${reason}); check ${source} (CloudHSM: user:password)`,
      );
    }
    default:
      return undefined;
  }
}

/** Adds the common flags to a command. */
export function withCommonFlags<T extends { option(flags: string, description: string): T }>(command: T): T {
  return command
    .option("--redis-url <url>", "Redis URL (default: REDIS_URL, else redis://127.0.0.1:6379)")
    .option("--region <region>", "default target AWS Region (default: AWS_REGION)")
    .option(
      "--prefix <prefix>",
      "key prefix of queues and ledger (default: HSM2KMS_QUEUE_PREFIX, else hsm2kms)",
    );
}
