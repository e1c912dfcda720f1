import { existsSync } from "node:fs";
import { isIP } from "node:net";
import { type AccountRoles, readAccountsFile } from "./accounts.js";
import { readFileBoundedSync } from "./bounded-read.js";
import { parseDurationMs } from "./durations.js";
import { ConfigError } from "./errors.js";
import { WRAPPING_KEY_SPECS, type WrappingKeySpec } from "./key-specs.js";
import { DEFAULT_KMS_QUOTAS, type KmsQuotas, parseQuotaList } from "./kms-quotas.js";
import { LOG_FORMATS, type LogFormat } from "./log-format.js";
import { parseRedisTarget } from "./redis-target.js";
import { Secret } from "./secret.js";

/**
 * Configuration, validated once at start-up from the environment (flags override) into a typed,
 * normalised object. Nothing reads process.env after this. A bad value throws a ConfigError that names the
 * variable and what was expected; the CLI turns it into exit code 2.
 */
export interface HsmConfig {
  /** Path of the PKCS#11 library (`HSM2KMS_PKCS11_LIB`). */
  library: string;
  /** Token label (`HSM2KMS_TOKEN_LABEL`); either this or `slot`. */
  tokenLabel: string | undefined;
  /** Slot id (`HSM2KMS_PKCS11_SLOT`). */
  slot: number | undefined;
  /** User PIN (CloudHSM: `user:password`), from `HSM2KMS_PKCS11_PIN` or `HSM2KMS_PKCS11_PIN_FILE`. */
  pin: Secret;
  /** The variable the PIN came from, named when the token refuses it. @defaultValue `HSM2KMS_PKCS11_PIN_FILE` */
  pinSource?: "HSM2KMS_PKCS11_PIN" | "HSM2KMS_PKCS11_PIN_FILE";
}

export interface Config {
  /** `REDIS_URL`. @defaultValue `redis://127.0.0.1:6379` */
  redisUrl: string;
  /** Key prefix of every queue and ledger key (`HSM2KMS_QUEUE_PREFIX`). @defaultValue `hsm2kms` */
  queuePrefix: string;
  /** Default target region (`AWS_REGION`, else `AWS_DEFAULT_REGION`). */
  region: string | undefined;
  /** KMS endpoint override (`HSM2KMS_KMS_ENDPOINT`), e.g. the sandbox emulator. */
  kmsEndpoint: string | undefined;
  /** HSM settings; undefined when no PKCS#11 library is configured. */
  hsm: HsmConfig | undefined;
  /** Port of /metrics, /healthz, /readyz (`HSM2KMS_METRICS_PORT`); undefined: not served. */
  metricsPort: number | undefined;
  /** Address the metrics server binds (`HSM2KMS_METRICS_HOST`). @defaultValue `0.0.0.0` */
  metricsHost: string;
  /** pino level (`HSM2KMS_LOG_LEVEL`). @defaultValue `info` */
  logLevel: string;
  /**
   * Log lines as JSON or readable (`HSM2KMS_LOG_FORMAT`); undefined: readable on a terminal, JSON elsewhere.
   * @defaultValue undefined
   */
  logFormat: LogFormat | undefined;
  /** Concurrent HSM phase jobs per worker process (`HSM2KMS_HSM_CONCURRENCY`). @defaultValue 4 */
  hsmConcurrency: number;
  /** Concurrent KMS phase jobs per queue per worker process (`HSM2KMS_KMS_CONCURRENCY`). @defaultValue 8 */
  kmsConcurrency: number;
  /** Refuse an import token with less than this left (`HSM2KMS_TOKEN_SAFETY_MARGIN`). @defaultValue 15m */
  tokenSafetyMarginMs: number;
  /** Pending window for ScheduleKeyDeletion on rollback (`HSM2KMS_DELETION_WINDOW_DAYS`, 7-30). @defaultValue 7 */
  deletionWindowDays: number;
  /** Fleet-wide KMS rate limits per operation and region (`HSM2KMS_KMS_QUOTAS`, `Op=rps,...`). */
  kmsQuotas: KmsQuotas;
  /** Attempts per phase before a retryable error fails the key (`HSM2KMS_MAX_ATTEMPTS`). @defaultValue 8 */
  maxAttempts: number;
  /** Size of the KMS wrapping key (`HSM2KMS_WRAPPING_KEY_SPEC`). @defaultValue RSA_4096 */
  wrappingKeySpec: WrappingKeySpec;
  /**
   * How long a worker holds a job before another may take it over (`HSM2KMS_JOB_LOCK`); a crashed worker's
   * jobs are recovered after about this long. @defaultValue 60s
   */
  jobLockMs: number;
  /** Times a key may go back to params for a new token (`HSM2KMS_MAX_TOKEN_REFRESHES`). @defaultValue 5 */
  maxTokenRefreshes: number;
  /**
   * The wrap phase fetches its own import parameters on the HSM host, so the wrapping public key never
   * passes through Redis (`HSM2KMS_PARAMS_ON_HSM_HOST`); HSM hosts then need `deploy/iam/hsm-worker-params.json`.
   * @defaultValue false
   */
  paramsOnHsmHost: boolean;
  /**
   * After a CreateKey whose outcome is unknown, how long the create phase keeps asking the Resource Groups
   * Tagging API (eventually consistent) for the key it may have made before creating one
   * (`HSM2KMS_TAG_INDEX_WAIT`, 0s to 1h). @defaultValue 5m
   */
  tagIndexWaitMs: number;
  /**
   * How long after this campaign created, imported into or replicated a KMS key a NotFoundException or
   * KMSInvalidStateException on it is taken for a change KMS has not propagated yet, and waited out
   * (`HSM2KMS_KMS_CONSISTENCY_WINDOW`; 0 turns the wait off). @defaultValue 5m
   */
  kmsConsistencyWindowMs: number;
  /**
   * Accept a Redis that can lose the ledger: no AOF and no sign of RDB snapshots, or an eviction policy other
   * than `noeviction` (`HSM2KMS_ALLOW_VOLATILE_REDIS`). For the sandbox and tests only: a campaign whose ledger
   * is lost leaves KMS keys nobody tracks. @defaultValue false
   */
  allowVolatileRedis: boolean;
  /**
   * How long a command waits for Redis (connect, or one command) before it fails naming the URL
   * (`HSM2KMS_REDIS_TIMEOUT`); a long-running worker rides out a longer outage instead. @defaultValue 10s
   */
  redisTimeoutMs: number;
  /**
   * Wraps per second one HSM client host sustains, all its sessions together (`HSM2KMS_HSM_WRAP_RATE`), for
   * `hsm2kms plan`; undefined: plan assumes its default (measure with `plan --measure-hsm`).
   */
  hsmWrapRate: number | undefined;
  /**
   * How to reach each target account other than the caller's own: the role to assume there
   * (`HSM2KMS_ACCOUNTS_FILE`, CSV `account,role_arn[,external_id[,session_name]]`): `plan`, `enqueue`, the workers and the commands that act in KMS.
   * @defaultValue none: every key goes to the caller's own account
   */
  accounts: AccountRoles | undefined;
  /**
   * How often the scheduled renewal looks for expiring material (`HSM2KMS_RENEW_INTERVAL`, one BullMQ job
   * scheduler per campaign, run by the workers that serve `renew`). @defaultValue 1h
   */
  renewIntervalMs: number;
  /** The scheduled renewal renews material that expires within this long (`HSM2KMS_RENEW_BEFORE`). @defaultValue 14d */
  renewBeforeMs: number;
  /**
   * The scheduled renewal's new ValidTo is now + this (`HSM2KMS_RENEW_FOR`, at most 365 days); undefined: the
   * period the key was last imported for.
   */
  renewForMs: number | undefined;
}

export type Environment = Record<string, string | undefined>;

/** Values given on the command line; they win over the environment. Never a PIN. */
export interface ConfigFlags {
  redisUrl?: string;
  region?: string;
  kmsEndpoint?: string;
  metricsPort?: string | number;
  queuePrefix?: string;
}

const DAY_MS = 86_400_000;

const REGION_PATTERN = /^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$/;

export function isRegionName(value: string): boolean {
  return REGION_PATTERN.test(value);
}

function bad(variable: string, value: string, expected: string): never {
  const shown = value.length > 80 ? `${value.slice(0, 77)}...` : value;
  throw new ConfigError(`${variable}=${JSON.stringify(shown)} is invalid: expected ${expected}`);
}

function integer(env: Environment, variable: string, fallback: number, min: number, max: number): number {
  const raw = env[variable];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max)
    bad(variable, raw, `a whole number from ${min} to ${max}`);
  return value;
}

function redisUrl(raw: string, variable: string): string {
  const target = parseRedisTarget(raw);
  if (typeof target === "string") bad(variable, redactUrl(raw), target);
  return raw;
}

/** A Redis URL with its password hidden, for messages and logs. */
export function redactUrl(raw: string): string {
  return raw.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:[redacted]@");
}

/** A PIN file holds one PIN (CloudHSM: `user:password`): a few bytes. The cap stops /dev/zero or a wrong file. */
export const MAX_PIN_FILE_BYTES = 4096;

function readPin(env: Environment): Secret | undefined {
  const inline = env["HSM2KMS_PKCS11_PIN"];
  const file = env["HSM2KMS_PKCS11_PIN_FILE"];
  if (inline && file)
    throw new ConfigError(
      "HSM2KMS_PKCS11_PIN and HSM2KMS_PKCS11_PIN_FILE are both set: expected only one of them",
    );
  if (inline !== undefined && inline !== "") return new Secret(inline);
  if (file === undefined || file === "") return undefined;
  const read = readFileBoundedSync(file, MAX_PIN_FILE_BYTES, "a PIN file");
  if ("problem" in read)
    throw new ConfigError(
      `HSM2KMS_PKCS11_PIN_FILE=${JSON.stringify(file)} ${read.problem}: expected a readable file holding only the PIN`,
    );
  const text = read.bytes.toString("utf8");
  const pin = text.replace(/\r?\n$/, "");
  if (pin === "")
    throw new ConfigError(`HSM2KMS_PKCS11_PIN_FILE=${JSON.stringify(file)} is empty: expected the PIN`);
  return new Secret(pin);
}

function hsmConfig(env: Environment): HsmConfig | undefined {
  const library = env["HSM2KMS_PKCS11_LIB"];
  if (library === undefined || library === "") return undefined;
  if (!existsSync(library))
    bad(
      "HSM2KMS_PKCS11_LIB",
      library,
      "the path of an existing PKCS#11 library (CloudHSM: /opt/cloudhsm/lib/libcloudhsm_pkcs11.so)",
    );
  const tokenLabel = env["HSM2KMS_TOKEN_LABEL"] || undefined;
  const slotText = env["HSM2KMS_PKCS11_SLOT"];
  let slot: number | undefined;
  if (slotText !== undefined && slotText !== "") {
    slot = Number(slotText);
    if (!Number.isInteger(slot) || slot < 0)
      bad("HSM2KMS_PKCS11_SLOT", slotText, "a slot id (a whole number, 0 or more)");
  }
  if (tokenLabel === undefined && slot === undefined)
    throw new ConfigError(
      "HSM2KMS_TOKEN_LABEL (or HSM2KMS_PKCS11_SLOT) is not set: expected the label of the token that holds the keys",
    );
  const pin = readPin(env);
  const pinSource = env["HSM2KMS_PKCS11_PIN"] ? "HSM2KMS_PKCS11_PIN" : "HSM2KMS_PKCS11_PIN_FILE";
  if (!pin)
    throw new ConfigError(
      "HSM2KMS_PKCS11_PIN_FILE (or HSM2KMS_PKCS11_PIN) is not set: expected the user PIN (CloudHSM: user:password)",
    );
  return { library, tokenLabel, slot, pin, pinSource };
}

// A host name as RFC 1123 allows it: dot-separated labels of letters, digits and inner hyphens.
const HOST_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

function metricsHost(value: string): string {
  if (isIP(value) === 0 && !HOST_NAME.test(value))
    bad(
      "HSM2KMS_METRICS_HOST",
      value,
      "an IP address or host name of this machine to listen on, e.g. 0.0.0.0, 127.0.0.1 or ::",
    );
  return value;
}

const hasUnit = (text: string) => /[a-z]\s*$/i.test(text);

function duration(
  env: Environment,
  variable: string,
  fallback: string,
  minMs: number,
  maxMs: number,
): number {
  const text = env[variable] || fallback;
  const ms = parseDurationMs(text);
  // A bare number is ambiguous (seconds? milliseconds?): only 0 may go without its unit.
  if (ms === undefined || ms < minMs || ms > maxMs || (ms !== 0 && !hasUnit(text)))
    bad(
      variable,
      text,
      `a duration with its unit, such as 30s or 5m, from ${minMs / 1000}s to ${maxMs / 1000}s`,
    );
  return ms;
}

function flag(env: Environment, variable: string): boolean {
  const raw = env[variable];
  if (raw === undefined || raw === "") return false;
  const value = raw.toLowerCase();
  if (["true", "1", "yes", "on"].includes(value)) return true;
  if (["false", "0", "no", "off"].includes(value)) return false;
  bad(variable, raw, "true or false");
}

function wrappingKeySpec(env: Environment): WrappingKeySpec {
  const value = env["HSM2KMS_WRAPPING_KEY_SPEC"] || "RSA_4096";
  if (!(WRAPPING_KEY_SPECS as readonly string[]).includes(value))
    bad("HSM2KMS_WRAPPING_KEY_SPEC", value, WRAPPING_KEY_SPECS.join(", "));
  return value as WrappingKeySpec;
}

function positiveRate(env: Environment, variable: string): number | undefined {
  const raw = env[variable];
  if (raw === undefined || raw === "") return undefined;
  const value = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw.trim()) || !(value > 0) || value > 1_000_000)
    bad(variable, raw, "a number of operations per second above 0, such as 12 or 2.5");
  return value;
}

/** Validates the environment and flags into a Config. Throws ConfigError on the first bad value. */
export function loadConfig(env: Environment = process.env, flags: ConfigFlags = {}): Config {
  const redisVariable = flags.redisUrl !== undefined ? "--redis-url" : "REDIS_URL";
  const region = flags.region ?? (env["AWS_REGION"] || env["AWS_DEFAULT_REGION"] || undefined);
  if (region !== undefined && !isRegionName(region))
    bad(
      flags.region !== undefined ? "--region" : "AWS_REGION",
      region,
      "an AWS Region name such as us-east-1",
    );

  const endpoint = flags.kmsEndpoint ?? (env["HSM2KMS_KMS_ENDPOINT"] || undefined);
  if (endpoint !== undefined && !/^https?:\/\/[^\s/]+/.test(endpoint))
    bad(
      flags.kmsEndpoint !== undefined ? "--kms-endpoint" : "HSM2KMS_KMS_ENDPOINT",
      endpoint,
      "an http:// or https:// URL",
    );

  const metricsEnv: Environment = {
    HSM2KMS_METRICS_PORT: flags.metricsPort?.toString() ?? env["HSM2KMS_METRICS_PORT"],
  };
  const metricsPort = metricsEnv["HSM2KMS_METRICS_PORT"]
    ? integer(metricsEnv, "HSM2KMS_METRICS_PORT", 0, 0, 65535)
    : undefined;

  const prefix = flags.queuePrefix ?? env["HSM2KMS_QUEUE_PREFIX"] ?? "hsm2kms";
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(prefix))
    bad("HSM2KMS_QUEUE_PREFIX", prefix, "1-64 letters, digits, '_', '.', '-' (no ':', '{' or '}')");

  const logLevel = env["HSM2KMS_LOG_LEVEL"] || "info";
  if (!["fatal", "error", "warn", "info", "debug", "trace", "silent"].includes(logLevel))
    bad("HSM2KMS_LOG_LEVEL", logLevel, "one of fatal, error, warn, info, debug, trace, silent");

  const logFormat = env["HSM2KMS_LOG_FORMAT"] || undefined;
  if (logFormat !== undefined && !(LOG_FORMATS as readonly string[]).includes(logFormat))
    bad("HSM2KMS_LOG_FORMAT", logFormat, `one of ${LOG_FORMATS.join(", ")} (unset: readable on a terminal)`);

  const marginText = env["HSM2KMS_TOKEN_SAFETY_MARGIN"] || "15m";
  const tokenSafetyMarginMs = parseDurationMs(marginText);
  if (
    tokenSafetyMarginMs === undefined ||
    tokenSafetyMarginMs > 12 * 3_600_000 ||
    (tokenSafetyMarginMs !== 0 && !hasUnit(marginText))
  )
    bad("HSM2KMS_TOKEN_SAFETY_MARGIN", marginText, "a duration such as 15m, 90s or 2h, at most 12h");

  const quotaText = env["HSM2KMS_KMS_QUOTAS"] ?? "";
  const quotaOverrides = parseQuotaList(quotaText);
  if (typeof quotaOverrides === "string") bad("HSM2KMS_KMS_QUOTAS", quotaText, quotaOverrides);

  return {
    redisUrl: redisUrl(flags.redisUrl ?? env["REDIS_URL"] ?? "redis://127.0.0.1:6379", redisVariable),
    queuePrefix: prefix,
    region,
    kmsEndpoint: endpoint,
    hsm: hsmConfig(env),
    metricsPort,
    metricsHost: metricsHost(env["HSM2KMS_METRICS_HOST"] || "0.0.0.0"),
    logLevel,
    logFormat: logFormat as LogFormat | undefined,
    hsmConcurrency: integer(env, "HSM2KMS_HSM_CONCURRENCY", 4, 1, 1024),
    kmsConcurrency: integer(env, "HSM2KMS_KMS_CONCURRENCY", 8, 1, 1024),
    tokenSafetyMarginMs,
    deletionWindowDays: integer(env, "HSM2KMS_DELETION_WINDOW_DAYS", 7, 7, 30),
    kmsQuotas: { ...DEFAULT_KMS_QUOTAS, ...quotaOverrides },
    maxAttempts: integer(env, "HSM2KMS_MAX_ATTEMPTS", 8, 1, 100),
    wrappingKeySpec: wrappingKeySpec(env),
    jobLockMs: duration(env, "HSM2KMS_JOB_LOCK", "60s", 1000, 3_600_000),
    maxTokenRefreshes: integer(env, "HSM2KMS_MAX_TOKEN_REFRESHES", 5, 1, 100),
    paramsOnHsmHost: flag(env, "HSM2KMS_PARAMS_ON_HSM_HOST"),
    tagIndexWaitMs: duration(env, "HSM2KMS_TAG_INDEX_WAIT", "5m", 0, 3_600_000),
    kmsConsistencyWindowMs: duration(env, "HSM2KMS_KMS_CONSISTENCY_WINDOW", "5m", 0, 86_400_000),
    allowVolatileRedis: flag(env, "HSM2KMS_ALLOW_VOLATILE_REDIS"),
    redisTimeoutMs: duration(env, "HSM2KMS_REDIS_TIMEOUT", "10s", 100, 600_000),
    hsmWrapRate: positiveRate(env, "HSM2KMS_HSM_WRAP_RATE"),
    accounts: env["HSM2KMS_ACCOUNTS_FILE"] ? readAccountsFile(env["HSM2KMS_ACCOUNTS_FILE"]) : undefined,
    renewIntervalMs: duration(env, "HSM2KMS_RENEW_INTERVAL", "1h", 1000, 7 * DAY_MS),
    renewBeforeMs: duration(env, "HSM2KMS_RENEW_BEFORE", "14d", 60_000, 365 * DAY_MS),
    // AWS KMS API Reference, ImportKeyMaterial: ValidTo is at most 365 days from the request.
    renewForMs: env["HSM2KMS_RENEW_FOR"]
      ? duration(env, "HSM2KMS_RENEW_FOR", "", 60_000, 365 * DAY_MS)
      : undefined,
  };
}

/** Throws a ConfigError unless the config has what HSM phases need. */
export function requireHsm(config: Config): HsmConfig {
  if (!config.hsm)
    throw new ConfigError(
      "HSM2KMS_PKCS11_LIB is not set: expected the path of the PKCS#11 library (CloudHSM: /opt/cloudhsm/lib/libcloudhsm_pkcs11.so)",
    );
  return config.hsm;
}

/** Throws a ConfigError unless a default region is set. */
export function requireRegion(config: Config): string {
  if (!config.region)
    throw new ConfigError(
      "AWS_REGION is not set: expected an AWS Region name such as us-east-1 (or --region)",
    );
  return config.region;
}
