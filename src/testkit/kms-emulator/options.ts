import { type Logger, silentLogger } from "../../shared/logger.js";
import { AWS_OPERATION_QUOTAS, AWS_SHARED_POOLS } from "./aws-quotas.js";
import { AWS_DEFAULT_MAX_KEYS } from "./limits.js";
import { TAGGING_QUOTAS } from "./operations/tagging.js";
import { type EmulatorRole, ROLE_ARN } from "./roles.js";
import { DEFAULT_EMULATOR_CREDENTIALS, type EmulatorCredential } from "./sigv4.js";
import type { RsaWrappingKeySpec } from "./spec-table.js";
import type { TagIndexDelay } from "./tag-index.js";

/** How to run the KMS emulator. */
export interface KmsEmulatorOptions {
  /** TCP port; 0 lets the OS pick one. @defaultValue 0 */
  port?: number;
  /** Interface to listen on. @defaultValue "127.0.0.1" */
  host?: string;
  /** How long an import token (and its wrapping key) stays valid. @defaultValue 86_400_000 (24 h) */
  tokenTtlMs?: number;
  /**
   * Requests per second per operation or shared pool (e.g. RsaCryptography) and Region (token buckets with
   * one second of burst), as overrides on top of the emulator's own AWS table (aws-quotas.ts); a pooled
   * operation given a quota (e.g. Sign) gets its own bucket as well as its pool's. `false` lifts every quota.
   * @defaultValue AWS_OPERATION_QUOTAS and AWS_SHARED_POOLS
   */
  quotas?: Record<string, number> | false;
  /** Delay injected before each request: fixed, or uniform in [min, max]. @defaultValue none */
  latencyMs?: number | [number, number];
  /** Probability (0..1) of answering a request with HTTP 500 KMSInternalException. @defaultValue 0 */
  faultRate?: number;
  /**
   * Deterministic injected faults: every Nth KMS request (per Region) is answered with an HTTP 500
   * KMSInternalException, as `faultRate` does at random; for tests that must see a fault happen.
   * @defaultValue none
   */
  faultEvery?: number;
  /** Probability (0..1) of resetting the connection before a request is processed (tests). @defaultValue 0 */
  resetRate?: number;
  /**
   * Probability (0..1) of processing a request and then resetting the connection instead of answering: the
   * change is made, the caller never learns it (tests of idempotency); per operation name when a map.
   * @defaultValue 0
   */
  lostResponseRate?: number | Record<string, number>;
  /**
   * Deterministic lost answers, per operation name: every Nth call of that operation (per Region) is processed
   * and then its connection reset, as `lostResponseRate` does at random; for tests that must see a loss happen.
   * @defaultValue none
   */
  lostResponseEvery?: Record<string, number>;
  /**
   * Eventual consistency, as the AWS KMS Developer Guide ("AWS KMS eventual consistency") describes it: each
   * new key, alias, import and replica gets its own random delay, uniform in [0, this] milliseconds, during
   * which every call sees the state before it (NotFoundException for a new key or alias, PendingImport after
   * an import, Creating for a replica). @defaultValue 0 (every change is seen at once)
   */
  consistencyDelayMs?: number;
  /** Test hook: the source of the consistency delays, in [0, 1). @defaultValue Math.random */
  consistencyRandom?: () => number;
  /**
   * Test hook awaited before each request runs (after latency and quotas), e.g. to let a token expire; `keyId`
   * is the request's KeyId as sent (an id, ARN or alias), when it has one.
   */
  beforeOperation?: (request: { region: string; operation: string; keyId?: string }) => void | Promise<void>;
  /** Test hook: every import token issued, so a test can search its logs and stores for them. */
  onImportTokenIssued?: (importToken: Buffer) => void;
  /** JSON file (mode 0600, it holds key material) that keeps state across restarts. @defaultValue none */
  stateFile?: string;
  /**
   * Accept PKCS#8 material followed by fewer than 8 zero bytes (SoftHSM2 2.6.1 zero-pads before AES-KWP),
   * stripping them with a warning. AWS KMS rejects such material. @defaultValue false
   */
  acceptKwpZeroPadding?: boolean;
  /** RSA wrapping keys kept generated ahead per size, once a size has been asked for. @defaultValue 2 */
  wrappingKeyPoolSize?: number;
  /**
   * GetParametersForImport answers one wrapping key serves before it is retired: 1 is a fresh key per call,
   * as AWS KMS does; more keeps the emulator's RSA key generation from competing with the pipeline it serves
   * at raised quotas. Every answer still carries its own import token, bound to its key. @defaultValue 1
   */
  wrappingKeyReuse?: number;
  /** Wrapping key sizes generated before the emulator listens (the others on first use). @defaultValue [] */
  wrappingKeyPrepare?: readonly RsaWrappingKeySpec[];
  /** The AWS account in ARNs. @defaultValue "111122223333" */
  accountId?: string;
  /** Where the emulator logs (never key material, tokens or plaintext). @defaultValue silent */
  logger?: Logger;
  /**
   * How long a new key's tags (and any tag change) take to show in the Resource Groups Tagging API's
   * GetResources: fixed, or uniform in [min, max] milliseconds (AWS's tag index is eventually consistent).
   * @defaultValue [50, 500]
   */
  tagIndexDelayMs?: TagIndexDelay;
  /** Unrelated keys every Region starts with (mixed origins, some tagged and aliased). @defaultValue 0 */
  seedKeys?: number;
  /**
   * The "AWS KMS keys" resource quota per Region: CreateKey and ReplicateKey beyond it answer
   * LimitExceededException. @defaultValue 100000 (AWS's default)
   */
  maxKeysPerRegion?: number;
  /**
   * The access keys whose SigV4 signatures the emulator accepts (KMS and STS alike); any other access key id
   * is refused as AWS refuses one. @defaultValue DEFAULT_EMULATOR_CREDENTIALS ("test", "sandbox" and "bench",
   * each its own secret)
   */
  credentials?: readonly EmulatorCredential[];
  /**
   * Test and rehearsal control: the emulator's clock for key state (import tokens, ValidTo, deletion dates)
   * starts this far ahead of the host's; `KmsEmulator.advanceClock` moves it on. @defaultValue 0
   */
  clockOffsetMs?: number;
  /**
   * Roles callers may assume with STS AssumeRole (on this endpoint); their temporary credentials act in the
   * account the role ARN names, which gets its own keys, aliases, tags and quotas. Any other role is
   * AccessDenied. @defaultValue none
   */
  roles?: readonly EmulatorRole[];
}

export interface ResolvedOptions {
  port: number;
  host: string;
  tokenTtlMs: number;
  quotas: Record<string, number>;
  latencyMs: number | [number, number] | undefined;
  faultRate: number;
  faultEvery: number | undefined;
  resetRate: number;
  lostResponseRate: number | Record<string, number>;
  lostResponseEvery: Record<string, number>;
  consistencyDelayMs: number;
  consistencyRandom: () => number;
  beforeOperation: KmsEmulatorOptions["beforeOperation"];
  onImportTokenIssued: KmsEmulatorOptions["onImportTokenIssued"];
  stateFile: string | undefined;
  acceptKwpZeroPadding: boolean;
  wrappingKeyPoolSize: number;
  wrappingKeyReuse: number;
  wrappingKeyPrepare: readonly RsaWrappingKeySpec[];
  accountId: string;
  logger: Logger;
  tagIndexDelayMs: TagIndexDelay;
  seedKeys: number;
  maxKeysPerRegion: number;
  /** Secret access key by access key id. */
  credentials: ReadonlyMap<string, string>;
  clockOffsetMs: number;
  roles: readonly EmulatorRole[];
}

function check(condition: boolean, message: string): void {
  if (!condition) throw new RangeError(`KMS emulator: ${message}`);
}

/** Applies defaults and rejects impossible values, naming the option. */
export function resolveOptions(options: KmsEmulatorOptions = {}): ResolvedOptions {
  const resolved: ResolvedOptions = {
    port: options.port ?? 0,
    host: options.host ?? "127.0.0.1",
    tokenTtlMs: options.tokenTtlMs ?? 86_400_000,
    quotas:
      options.quotas === false
        ? {}
        : { ...TAGGING_QUOTAS, ...AWS_OPERATION_QUOTAS, ...AWS_SHARED_POOLS, ...options.quotas },
    latencyMs: options.latencyMs,
    faultRate: options.faultRate ?? 0,
    faultEvery: options.faultEvery,
    resetRate: options.resetRate ?? 0,
    lostResponseRate: options.lostResponseRate ?? 0,
    lostResponseEvery: options.lostResponseEvery ?? {},
    consistencyDelayMs: options.consistencyDelayMs ?? 0,
    consistencyRandom: options.consistencyRandom ?? Math.random,
    beforeOperation: options.beforeOperation,
    onImportTokenIssued: options.onImportTokenIssued,
    stateFile: options.stateFile,
    acceptKwpZeroPadding: options.acceptKwpZeroPadding ?? false,
    wrappingKeyPoolSize: options.wrappingKeyPoolSize ?? 2,
    wrappingKeyReuse: options.wrappingKeyReuse ?? 1,
    wrappingKeyPrepare: options.wrappingKeyPrepare ?? [],
    accountId: options.accountId ?? "111122223333",
    logger: options.logger ?? silentLogger(),
    tagIndexDelayMs: options.tagIndexDelayMs ?? [50, 500],
    seedKeys: options.seedKeys ?? 0,
    maxKeysPerRegion: options.maxKeysPerRegion ?? AWS_DEFAULT_MAX_KEYS,
    clockOffsetMs: options.clockOffsetMs ?? 0,
    credentials: new Map(
      (options.credentials ?? DEFAULT_EMULATOR_CREDENTIALS).map((c) => [c.accessKeyId, c.secretAccessKey]),
    ),
    roles: options.roles ?? [],
  };
  resolved.roles.forEach((role, index) => {
    check(
      ROLE_ARN.test(role.roleArn ?? ""),
      `roles[${index}].roleArn must be arn:aws:iam::<12 digits>:role/<name>`,
    );
    check(
      role.externalId === undefined || /^[\w+=,.@:/-]{2,1224}$/.test(role.externalId),
      `roles[${index}].externalId must be 2-1224 characters of [\\w+=,.@:/-]`,
    );
    const max = role.maxSessionDurationSeconds;
    check(
      max === undefined || (Number.isInteger(max) && max >= 3600 && max <= 43_200),
      `roles[${index}].maxSessionDurationSeconds must be 3600..43200`,
    );
  });
  const credentials = options.credentials ?? DEFAULT_EMULATOR_CREDENTIALS;
  check(credentials.length > 0, "credentials must name at least one access key");
  credentials.forEach((credential, index) => {
    check(
      /^[\w+=,.@-]{1,128}$/.test(credential.accessKeyId ?? ""),
      `credentials[${index}].accessKeyId must be 1-128 letters, digits or +=,.@_-`,
    );
    check((credential.secretAccessKey ?? "").length > 0, `credentials[${index}].secretAccessKey is empty`);
  });
  check(resolved.credentials.size === credentials.length, "credentials name an access key id twice");
  check(
    Number.isInteger(resolved.port) && resolved.port >= 0 && resolved.port < 65536,
    "port must be 0..65535",
  );
  check(resolved.tokenTtlMs > 0, "tokenTtlMs must be positive");
  check(resolved.faultRate >= 0 && resolved.faultRate <= 1, "faultRate must be between 0 and 1");
  check(
    resolved.faultEvery === undefined || (Number.isInteger(resolved.faultEvery) && resolved.faultEvery >= 1),
    "faultEvery must be a whole number >= 1",
  );
  check(resolved.resetRate >= 0 && resolved.resetRate <= 1, "resetRate must be between 0 and 1");
  const lostRates =
    typeof resolved.lostResponseRate === "number"
      ? [resolved.lostResponseRate]
      : Object.values(resolved.lostResponseRate);
  check(
    lostRates.every((rate) => rate >= 0 && rate <= 1),
    "lostResponseRate must be between 0 and 1",
  );
  check(
    Object.values(resolved.lostResponseEvery).every((every) => Number.isInteger(every) && every >= 1),
    "lostResponseEvery must map operations to whole numbers >= 1",
  );
  check(
    Number.isFinite(resolved.consistencyDelayMs) && resolved.consistencyDelayMs >= 0,
    "consistencyDelayMs must be >= 0",
  );
  check(Number.isFinite(resolved.clockOffsetMs) && resolved.clockOffsetMs >= 0, "clockOffsetMs must be >= 0");
  check(/^\d{12}$/.test(resolved.accountId), "accountId must be 12 digits");
  check(
    Number.isInteger(resolved.wrappingKeyPoolSize) && resolved.wrappingKeyPoolSize >= 0,
    "wrappingKeyPoolSize must be >= 0",
  );
  check(
    Number.isInteger(resolved.wrappingKeyReuse) && resolved.wrappingKeyReuse >= 1,
    "wrappingKeyReuse must be an integer >= 1",
  );
  for (const [operation, rate] of Object.entries(resolved.quotas))
    check(rate > 0, `quota for ${operation} must be positive`);
  check(Number.isInteger(resolved.seedKeys) && resolved.seedKeys >= 0, "seedKeys must be >= 0");
  check(
    Number.isInteger(resolved.maxKeysPerRegion) && resolved.maxKeysPerRegion >= 1,
    "maxKeysPerRegion must be >= 1",
  );
  const tagDelay = resolved.tagIndexDelayMs;
  check(
    typeof tagDelay === "number" ? tagDelay >= 0 : tagDelay[0] >= 0 && tagDelay[1] >= tagDelay[0],
    "tagIndexDelayMs must be >= 0, or a range [min, max] with 0 <= min <= max",
  );
  const latency = resolved.latencyMs;
  if (latency !== undefined)
    check(
      typeof latency === "number" ? latency >= 0 : latency[0] >= 0 && latency[1] >= latency[0],
      "latencyMs must be >= 0, or a range [min, max] with 0 <= min <= max",
    );
  return resolved;
}
