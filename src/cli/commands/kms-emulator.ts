import { readFileSync } from "node:fs";
import type { Command } from "commander";
import {
  type EmulatorRole,
  type KmsEmulatorOptions,
  ROLE_ARN,
  startKmsEmulator,
} from "../../sandbox/kms-emulator/index.js";
import { OPERATIONS } from "../../sandbox/kms-emulator/operations/index.js";
import { TAGGING_OPERATIONS } from "../../sandbox/kms-emulator/operations/tagging.js";
import { parseDurationMs } from "../../shared/durations.js";
import { ConfigError } from "../../shared/errors.js";
import { DEFAULT_KMS_QUOTAS, parseQuotaList } from "../../shared/kms-quotas.js";
import { createLogger } from "../../shared/logger.js";

export interface KmsEmulatorFlags {
  port: string;
  host: string;
  tokenTtl: string;
  quota?: string;
  quotas: boolean;
  latencyMs?: string;
  faultRate: string;
  consistencyDelay: string;
  state?: string;
  acceptKwpZeroPadding?: boolean;
  wrappingKeyPool: string;
  accountId: string;
  logLevel: string;
  seedKeys: string;
  maxKeys: string;
  tagIndexDelayMs: string;
  credentialsFile?: string;
  role?: string[];
}

/**
 * The access keys a `--credentials-file` names: a JSON array of `{"accessKeyId", "secretAccessKey"}`. Errors
 * name the file and the entry, never what the file holds (it holds secrets).
 */
export function readCredentialsFile(path: string): { accessKeyId: string; secretAccessKey: string }[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? "not valid JSON";
    throw new ConfigError(`--credentials-file ${path}: cannot read it (${reason})`);
  }
  const shape = `a JSON array of {"accessKeyId": "...", "secretAccessKey": "..."}`;
  if (!Array.isArray(parsed) || parsed.length === 0)
    throw new ConfigError(`--credentials-file ${path}: expected ${shape} with at least one entry`);
  return parsed.map((entry: unknown, index) => {
    const { accessKeyId, secretAccessKey } = (entry ?? {}) as Record<string, unknown>;
    if (typeof accessKeyId !== "string" || !/^[\w+=,.@-]{1,128}$/.test(accessKeyId))
      throw new ConfigError(
        `--credentials-file ${path}: entry ${index + 1} needs an accessKeyId of 1-128 letters, digits or +=,.@_- (${shape})`,
      );
    if (typeof secretAccessKey !== "string" || secretAccessKey === "")
      throw new ConfigError(
        `--credentials-file ${path}: entry ${index + 1} needs a non-empty secretAccessKey`,
      );
    return { accessKeyId, secretAccessKey };
  });
}

function parseLatency(text: string, flag = "--latency-ms"): number | [number, number] {
  const match = /^(\d+(?:\.\d+)?)(?:-(\d+(?:\.\d+)?))?$/.exec(text.trim());
  if (!match) throw new ConfigError(`${flag}: "${text}" is not N or N-M (milliseconds)`);
  if (match[2] === undefined) return Number(match[1]);
  const range: [number, number] = [Number(match[1]), Number(match[2])];
  if (range[1] < range[0]) throw new ConfigError(`${flag}: "${text}" has its maximum below its minimum`);
  return range;
}

function integerFlag(name: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max)
    throw new ConfigError(`${name}: "${text}" is not an integer from ${min} to ${max}`);
  return value;
}

/** Turns the command's flags into emulator options; a bad flag is a ConfigError naming it (exit 2). */
export function kmsEmulatorOptionsFromFlags(flags: KmsEmulatorFlags): KmsEmulatorOptions {
  const tokenTtlMs = parseDurationMs(flags.tokenTtl);
  if (!tokenTtlMs)
    throw new ConfigError(`--token-ttl: "${flags.tokenTtl}" is not a duration such as 24h or 90s`);
  let quotas: KmsEmulatorOptions["quotas"];
  if (!flags.quotas) quotas = false;
  else if (flags.quota !== undefined) {
    const parsed = parseQuotaList(flags.quota, [
      ...Object.keys(OPERATIONS),
      ...Object.keys(TAGGING_OPERATIONS),
    ]);
    if (typeof parsed === "string") throw new ConfigError(`--quota: ${parsed}`);
    quotas = parsed;
  }
  const faultRate = Number(flags.faultRate);
  if (!Number.isFinite(faultRate) || faultRate < 0 || faultRate > 1)
    throw new ConfigError(`--fault-rate: "${flags.faultRate}" is not a number from 0 to 1`);
  if (!/^\d{12}$/.test(flags.accountId))
    throw new ConfigError(`--account-id: "${flags.accountId}" is not 12 digits`);
  return {
    port: integerFlag("--port", flags.port, 0, 65535),
    host: flags.host,
    tokenTtlMs,
    quotas,
    latencyMs: flags.latencyMs === undefined ? undefined : parseLatency(flags.latencyMs),
    faultRate,
    consistencyDelayMs: integerFlag("--consistency-delay", flags.consistencyDelay, 0, 3_600_000),
    stateFile: flags.state,
    acceptKwpZeroPadding: flags.acceptKwpZeroPadding ?? false,
    wrappingKeyPoolSize: integerFlag("--wrapping-key-pool", flags.wrappingKeyPool, 0, 64),
    accountId: flags.accountId,
    seedKeys: integerFlag("--seed-keys", flags.seedKeys, 0, 1_000_000),
    maxKeysPerRegion: integerFlag("--max-keys", flags.maxKeys, 1, 10_000_000),
    tagIndexDelayMs: parseLatency(flags.tagIndexDelayMs, "--tag-index-delay-ms"),
    credentials: flags.credentialsFile === undefined ? undefined : readCredentialsFile(flags.credentialsFile),
    roles: (flags.role ?? []).map(roleFlag),
  };
}

/** `--role ARN` or `--role ARN#EXTERNAL_ID` (`#` is in neither an ARN nor an external id). */
function roleFlag(text: string): EmulatorRole {
  const [roleArn = "", externalId] = text.split("#");
  if (!ROLE_ARN.test(roleArn))
    throw new ConfigError(
      `--role: "${text}" is not arn:aws:iam::<12 digits>:role/<name>, optionally #<external id>`,
    );
  if (externalId !== undefined && !/^[\w+=,.@:/-]{2,1224}$/.test(externalId))
    throw new ConfigError(
      `--role: the external id of ${roleArn} must be 2-1224 characters of letters, digits and +=,.@:/-`,
    );
  return { roleArn, externalId };
}

/** Resolves when the process is asked to stop (SIGTERM or SIGINT). */
function stopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off("SIGTERM", stop);
      process.off("SIGINT", stop);
      resolve(signal);
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
  });
}

/** `hsm2kms kms-emulator`: the local, wire-compatible AWS KMS for the demo, tests and benchmarks. */
export function registerKmsEmulatorCommand(program: Command): void {
  const quotaDefaults = Object.entries(DEFAULT_KMS_QUOTAS)
    .map(([operation, rate]) => `${operation}=${rate}`)
    .join(",");
  program
    .command("kms-emulator")
    .description(
      "Run a local AWS KMS emulator (AWS JSON 1.1, real cryptography, real key import) for @aws-sdk/client-kms " +
        "with an endpoint override. Prints its URL on stdout when listening; SIGTERM or SIGINT stop it, saving state. " +
        "One emulator serves every Region: the Region comes from each request's SigV4 credential scope. " +
        "Signatures are checked as AWS checks them (known access key, secret, signed headers, body, date within 5 minutes).",
    )
    .option("--port <port>", "TCP port; 0 lets the OS pick one", "0")
    .option("--host <host>", "interface to listen on", "127.0.0.1")
    .option(
      "--token-ttl <duration>",
      "life of an import token and its wrapping key (e.g. 24h, 90s, 500ms)",
      "24h",
    )
    .option("--quota <list>", `per-Region request quotas as Op=rps,... over the defaults (${quotaDefaults})`)
    .option("--no-quotas", "lift every request quota (no ThrottlingException)")
    .option("--latency-ms <ms>", "delay before each request: N, or a uniform range N-M (default: none)")
    .option(
      "--fault-rate <fraction>",
      "probability (0..1) of an HTTP 500 KMSInternalException per request",
      "0",
    )
    .option(
      "--consistency-delay <ms>",
      "eventual consistency: each new key, alias, import and replica stays unseen by other calls for a random " +
        "0..ms (NotFoundException, PendingImport, Creating), as the AWS KMS Developer Guide warns; 0 is off",
      "0",
    )
    .option(
      "--state <file>",
      "keep keys, aliases and tokens in this JSON file (mode 0600) across restarts (default: memory only)",
    )
    .option(
      "--accept-kwp-zero-padding",
      "accept PKCS#8 material followed by < 8 zero bytes (SoftHSM2 2.6.1 KWP padding), with a warning; AWS KMS rejects it (default: off)",
    )
    .option("--wrapping-key-pool <n>", "RSA wrapping keys kept ready per size, once a size is used", "2")
    .option("--account-id <id>", "AWS account ID in ARNs", "111122223333")
    .option(
      "--seed-keys <n>",
      "every Region starts with N unrelated keys (mixed origins, some tagged and aliased), as a real account",
      "0",
    )
    .option(
      "--max-keys <n>",
      "the AWS KMS keys resource quota per Region: CreateKey/ReplicateKey beyond it answer LimitExceededException",
      "100000",
    )
    .option(
      "--tag-index-delay-ms <ms>",
      "delay before a tag change shows in the Resource Groups Tagging API's GetResources: N, or a uniform range N-M",
      "50-500",
    )
    .option(
      "--credentials-file <file>",
      'access keys whose SigV4 signatures are accepted: a JSON array of {"accessKeyId","secretAccessKey"} (default: test/test, sandbox/sandbox, bench/bench)',
    )
    .option(
      "--role <arn>",
      "a role STS AssumeRole may assume on this endpoint (repeat for several; ARN#EXTERNAL_ID to require an external id): its credentials act in the account the ARN names, with that account's own keys, aliases, tags and quotas; any other role is AccessDenied",
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option("--log-level <level>", "pino log level (logs go to stderr)", "info")
    .action(async (flags: KmsEmulatorFlags) => {
      const options = kmsEmulatorOptionsFromFlags(flags);
      const logger = createLogger({ level: flags.logLevel, base: { component: "kms-emulator" } });
      const emulator = await startKmsEmulator({ ...options, logger });
      process.stdout.write(`${emulator.url}\n`);
      const signal = await stopSignal();
      logger.info({ signal }, "kms-emulator: stopping");
      await emulator.close();
    });
}
