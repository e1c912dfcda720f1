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
import { openPkcs11Hsm } from "../shared/hsm/index.js";
import type { HsmPort } from "../shared/hsm/types.js";
import { Ledger } from "../shared/ledger/index.js";
import { createLogger } from "../shared/logger.js";
import { PhaseQueues } from "../shared/queues.js";
import { createRedisConnection, type RedisConnection } from "../shared/redis.js";

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
  close(): Promise<void>;
}

/** Connects to Redis (failing fast with the URL, password hidden, when it does not answer). */
export async function openRuntime(config: Config, component: string): Promise<Runtime> {
  const logger = createLogger({ level: config.logLevel, base: { component } });
  const redis = createRedisConnection(config.redisUrl, {
    maxRetriesPerRequest: null,
    lazyConnect: true,
    connectTimeout: 5000,
  });
  redis.on("error", (error) => logger.debug({ err: error.message }, "redis connection error"));
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    redis.disconnect();
    throw new ConfigError(
      `cannot reach Redis at ${redactUrl(config.redisUrl)} (${(error as Error).message}): start it or set REDIS_URL`,
    );
  }
  const ledger = new Ledger(redis, config.queuePrefix);
  const queues = new PhaseQueues(redis, config.queuePrefix);
  return {
    config,
    logger,
    redis,
    ledger,
    queues,
    close: async () => {
      await queues.close();
      redis.disconnect();
    },
  };
}

/** Opens the HSM configured in the environment, with a session per concurrent HSM job. */
export async function openHsm(config: Config, logger: Logger): Promise<HsmPort> {
  const hsm = requireHsm(config);
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
