import type { Config, Environment } from "./config.js";
import { redactUrl } from "./config.js";
import { formatDuration } from "./durations.js";
import { DEFAULT_KMS_QUOTAS } from "./kms-quotas.js";

/**
 * Every environment variable hsm2kms reads, in one place: its name, its default as the README shows it, and
 * a one-line explanation. `loadConfig` (config.ts) validates each; `hsm2kms config` prints this table with
 * the values it understood; test/unit/config-schema.test.ts holds this list, the variables config.ts reads
 * and the README's Configuration table to each other, so a variable cannot be added to one and not the others.
 */
export interface ConfigVariable {
  name: string;
  /** The default as the README shows it (`10s`, `redis://127.0.0.1:6379`); empty: unset means not used. */
  defaultText: string;
  /** One line: what it does. */
  explanation: string;
  /** Shown as `[redacted]` whatever its value. */
  secret?: boolean;
  /** Other variables that set the same thing (AWS_REGION: AWS_DEFAULT_REGION). */
  aliases?: readonly string[];
  /** The value as understood, for `hsm2kms config` (undefined: not set). */
  shown(config: Config): string | undefined;
}

const ms = (value: number) => (value === 0 ? "0" : formatDuration(value));
const text = (value: number | boolean) => String(value);

export const CONFIG_VARIABLES: readonly ConfigVariable[] = [
  {
    name: "REDIS_URL",
    defaultText: "redis://127.0.0.1:6379",
    explanation: "Redis for queues and ledger (rediss:// TLS, redis+cluster:// a cluster); password hidden",
    shown: (c) => redactUrl(c.redisUrl),
  },
  {
    name: "AWS_REGION",
    aliases: ["AWS_DEFAULT_REGION"],
    defaultText: "",
    explanation: "default target AWS Region",
    shown: (c) => c.region,
  },
  {
    name: "HSM2KMS_KMS_ENDPOINT",
    defaultText: "",
    explanation: "KMS endpoint override (the sandbox emulator); STS is asked there too",
    shown: (c) => c.kmsEndpoint,
  },
  {
    name: "HSM2KMS_PKCS11_LIB",
    defaultText: "",
    explanation: "PKCS#11 library (CloudHSM: /opt/cloudhsm/lib/libcloudhsm_pkcs11.so)",
    shown: (c) => c.hsm?.library,
  },
  {
    name: "HSM2KMS_TOKEN_LABEL",
    defaultText: "",
    explanation: "label of the token that holds the keys (or HSM2KMS_PKCS11_SLOT)",
    shown: (c) => c.hsm?.tokenLabel,
  },
  {
    name: "HSM2KMS_PKCS11_SLOT",
    defaultText: "",
    explanation: "slot id of the token (or HSM2KMS_TOKEN_LABEL)",
    shown: (c) => c.hsm?.slot?.toString(),
  },
  {
    name: "HSM2KMS_PKCS11_PIN_FILE",
    defaultText: "",
    explanation: "file holding the user PIN (CloudHSM: user:password); preferred to HSM2KMS_PKCS11_PIN",
    shown: (c) => (c.hsm?.pinSource === "HSM2KMS_PKCS11_PIN_FILE" ? "(read, redacted)" : undefined),
  },
  {
    name: "HSM2KMS_PKCS11_PIN",
    defaultText: "",
    secret: true,
    explanation: "the user PIN itself (prefer the file: the environment is visible to the same user)",
    shown: (c) => (c.hsm?.pinSource === "HSM2KMS_PKCS11_PIN" ? "[redacted]" : undefined),
  },
  {
    name: "HSM2KMS_METRICS_PORT",
    defaultText: "",
    explanation: "serve /metrics, /healthz, /readyz on this port",
    shown: (c) => c.metricsPort?.toString(),
  },
  {
    name: "HSM2KMS_METRICS_HOST",
    defaultText: "0.0.0.0",
    explanation: "address the metrics server binds",
    shown: (c) => c.metricsHost,
  },
  {
    name: "HSM2KMS_QUEUE_PREFIX",
    defaultText: "hsm2kms",
    explanation: "key prefix of queues and ledger (one per migration campaign)",
    shown: (c) => c.queuePrefix,
  },
  {
    name: "HSM2KMS_LOG_LEVEL",
    defaultText: "info",
    explanation: "pino level; logs go to stderr",
    shown: (c) => c.logLevel,
  },
  {
    name: "HSM2KMS_LOG_FORMAT",
    defaultText: "readable on a terminal, else json",
    explanation: "json or pretty, whatever stderr is",
    shown: (c) => c.logFormat,
  },
  {
    name: "HSM2KMS_HSM_CONCURRENCY",
    defaultText: "4",
    explanation:
      "PKCS#11 sessions (concurrent HSM calls) per worker process; wrap with HSM2KMS_PARAMS_ON_HSM_HOST runs HSM2KMS_KMS_CONCURRENCY more jobs",
    shown: (c) => text(c.hsmConcurrency),
  },
  {
    name: "HSM2KMS_KMS_CONCURRENCY",
    defaultText: "8",
    explanation: "concurrent jobs per KMS phase queue per worker process",
    shown: (c) => text(c.kmsConcurrency),
  },
  {
    name: "HSM2KMS_TOKEN_SAFETY_MARGIN",
    defaultText: "15m",
    explanation: "refuse an import token with less than this left",
    shown: (c) => ms(c.tokenSafetyMarginMs),
  },
  {
    name: "HSM2KMS_WRAPPING_KEY_SPEC",
    defaultText: "RSA_4096",
    explanation: "size of the KMS wrapping key",
    shown: (c) => c.wrappingKeySpec,
  },
  {
    name: "HSM2KMS_KMS_QUOTAS",
    defaultText: "AWS defaults",
    explanation: "Op=rps,... fleet-wide KMS rate limits, e.g. GetParametersForImport=10",
    // Only what differs from AWS's defaults: the whole list is long, and the README has it.
    shown: (c) =>
      Object.entries(c.kmsQuotas)
        .filter(
          ([operation, rps]) => DEFAULT_KMS_QUOTAS[operation as keyof typeof DEFAULT_KMS_QUOTAS] !== rps,
        )
        .map(([operation, rps]) => `${operation}=${rps}`)
        .join(",") || "AWS defaults",
  },
  {
    name: "HSM2KMS_HSM_WRAP_RATE",
    defaultText: "5",
    explanation:
      "wraps per second one HSM host sustains, for `hsm2kms plan` (an assumption unless measured: plan --measure-hsm)",
    shown: (c) => (c.hsmWrapRate === undefined ? undefined : text(c.hsmWrapRate)),
  },
  {
    name: "HSM2KMS_ACCOUNTS_FILE",
    defaultText: "",
    explanation:
      "CSV account,role_arn[,external_id[,session_name]]: the role assumed in each target account of the manifest's account column (the same file on every worker)",
    shown: (c) => (c.accounts ? `${c.accounts.size} account(s)` : undefined),
  },
  {
    name: "HSM2KMS_DELETION_WINDOW_DAYS",
    defaultText: "7",
    explanation: "pending window (days) when a key that failed verification is scheduled for deletion",
    shown: (c) => text(c.deletionWindowDays),
  },
  {
    name: "HSM2KMS_MAX_ATTEMPTS",
    defaultText: "8",
    explanation: "attempts per phase for retryable errors",
    shown: (c) => text(c.maxAttempts),
  },
  {
    name: "HSM2KMS_MAX_TOKEN_REFRESHES",
    defaultText: "5",
    explanation: "times a key may go back to params for a new import token",
    shown: (c) => text(c.maxTokenRefreshes),
  },
  {
    name: "HSM2KMS_JOB_LOCK",
    defaultText: "60s",
    explanation: "how long a worker holds a job; a lost worker's jobs move on after about this long",
    shown: (c) => ms(c.jobLockMs),
  },
  {
    name: "HSM2KMS_TAG_INDEX_WAIT",
    defaultText: "5m",
    explanation: "after a CreateKey without answer, how long to look for the key in the tag index",
    shown: (c) => ms(c.tagIndexWaitMs),
  },
  {
    name: "HSM2KMS_KMS_CONSISTENCY_WINDOW",
    defaultText: "5m",
    explanation: "how long KMS's eventual consistency is waited out on this campaign's keys (0: off)",
    shown: (c) => ms(c.kmsConsistencyWindowMs),
  },
  {
    name: "HSM2KMS_PARAMS_ON_HSM_HOST",
    defaultText: "false",
    explanation: "the wrap phase fetches its own import parameters on the HSM host",
    shown: (c) => text(c.paramsOnHsmHost),
  },
  {
    name: "HSM2KMS_ALLOW_VOLATILE_REDIS",
    defaultText: "false",
    explanation: "accept a Redis that can lose the ledger (sandbox and tests only)",
    shown: (c) => text(c.allowVolatileRedis),
  },
  {
    name: "HSM2KMS_REDIS_TIMEOUT",
    defaultText: "10s",
    explanation: "how long a command waits for Redis before it fails naming the URL",
    shown: (c) => ms(c.redisTimeoutMs),
  },
  {
    name: "HSM2KMS_RENEW_INTERVAL",
    defaultText: "1h",
    explanation:
      "how often the workers serving renew look for expiring key material (one schedule per campaign)",
    shown: (c) => ms(c.renewIntervalMs),
  },
  {
    name: "HSM2KMS_RENEW_BEFORE",
    defaultText: "14d",
    explanation: "the scheduled renewal renews material that expires within this long",
    shown: (c) => ms(c.renewBeforeMs),
  },
  {
    name: "HSM2KMS_RENEW_FOR",
    defaultText: "",
    explanation:
      "the scheduled renewal's new ValidTo is now + this (at most 365d; unset: the key's last period)",
    shown: (c) => (c.renewForMs === undefined ? undefined : ms(c.renewForMs)),
  },
];

/** One row of `hsm2kms config`. */
export interface ConfigRow {
  name: string;
  value: string;
  defaultText: string;
  /** `environment` (the variable, or one of its aliases, is set), `default`, or `unset`. */
  source: "environment" | "default" | "unset";
  explanation: string;
}

/** What `hsm2kms config` shows: every variable with the value understood and where it came from. */
export function describeConfig(config: Config, env: Environment): ConfigRow[] {
  return CONFIG_VARIABLES.map((variable) => {
    const set = [variable.name, ...(variable.aliases ?? [])].some((name) => (env[name] ?? "") !== "");
    const shown = variable.shown(config);
    const value = shown === undefined ? "" : variable.secret && set ? "[redacted]" : shown;
    return {
      name: variable.name,
      value,
      defaultText: variable.defaultText,
      source: set ? "environment" : value === "" ? "unset" : "default",
      explanation: variable.explanation,
    };
  });
}
