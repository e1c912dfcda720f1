import { readFileSync } from "node:fs";
import { parseDurationMs } from "../../shared/durations.js";
import { ConfigError } from "../../shared/errors.js";
import { parseEmulatorQuotas, quotaNames } from "./aws-quotas.js";
import { OPERATIONS } from "./operations/index.js";
import { TAGGING_OPERATIONS } from "./operations/tagging.js";
import type { KmsEmulatorOptions } from "./options.js";
import { type EmulatorRole, ROLE_ARN } from "./roles.js";

/** The `hsm2kms kms-emulator` command's flags, as commander hands them over (src/cli/commands/kms-emulator.ts). */
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
  wrappingKeyReuse: string;
  wrappingKeyPrepare?: string;
  accountId: string;
  logLevel: string;
  seedKeys: string;
  maxKeys: string;
  tagIndexDelayMs: string;
  credentialsFile?: string;
  clockOffset: string;
  clockStep?: string;
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

const RSA_WRAPPING_KEY_SPECS = ["RSA_2048", "RSA_3072", "RSA_4096"] as const;

function parseWrappingKeySpecs(text: string | undefined): (typeof RSA_WRAPPING_KEY_SPECS)[number][] {
  if (text === undefined) return [];
  const specs = text.split(",").map((spec) => spec.trim());
  for (const spec of specs)
    if (!(RSA_WRAPPING_KEY_SPECS as readonly string[]).includes(spec))
      throw new ConfigError(
        `--wrapping-key-prepare: "${spec}" is not one of ${RSA_WRAPPING_KEY_SPECS.join(", ")} (comma-separated)`,
      );
  return specs as (typeof RSA_WRAPPING_KEY_SPECS)[number][];
}

function integerFlag(name: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max)
    throw new ConfigError(`${name}: "${text}" is not an integer from ${min} to ${max}`);
  return value;
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

function durationFlag(name: string, text: string, zeroAllowed: boolean): number {
  const ms = parseDurationMs(text);
  if (ms === undefined || (!zeroAllowed && ms === 0))
    throw new ConfigError(`${name}: "${text}" is not a duration such as 90s, 15m or 2d`);
  return ms;
}

/** `--clock-step`: how far each SIGUSR2 moves the emulator's clock, or undefined (SIGUSR2 ignored). */
export function kmsEmulatorClockStepMs(flags: KmsEmulatorFlags): number | undefined {
  return flags.clockStep === undefined ? undefined : durationFlag("--clock-step", flags.clockStep, false);
}

/** Turns the command's flags into emulator options; a bad flag is a ConfigError naming it (exit 2). */
export function kmsEmulatorOptionsFromFlags(flags: KmsEmulatorFlags): KmsEmulatorOptions {
  const tokenTtlMs = parseDurationMs(flags.tokenTtl);
  if (!tokenTtlMs)
    throw new ConfigError(`--token-ttl: "${flags.tokenTtl}" is not a duration such as 24h or 90s`);
  let quotas: KmsEmulatorOptions["quotas"];
  if (!flags.quotas) quotas = false;
  else if (flags.quota !== undefined) {
    const parsed = parseEmulatorQuotas(
      flags.quota,
      quotaNames([...Object.keys(OPERATIONS), ...Object.keys(TAGGING_OPERATIONS)]),
    );
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
    wrappingKeyReuse: integerFlag("--wrapping-key-reuse", flags.wrappingKeyReuse, 1, 1_000_000),
    wrappingKeyPrepare: parseWrappingKeySpecs(flags.wrappingKeyPrepare),
    accountId: flags.accountId,
    seedKeys: integerFlag("--seed-keys", flags.seedKeys, 0, 1_000_000),
    maxKeysPerRegion: integerFlag("--max-keys", flags.maxKeys, 1, 10_000_000),
    tagIndexDelayMs: parseLatency(flags.tagIndexDelayMs, "--tag-index-delay-ms"),
    credentials: flags.credentialsFile === undefined ? undefined : readCredentialsFile(flags.credentialsFile),
    clockOffsetMs: durationFlag("--clock-offset", flags.clockOffset, true),
    roles: (flags.role ?? []).map(roleFlag),
  };
}
