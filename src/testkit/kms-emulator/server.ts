import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { EmulatorAccounts } from "./accounts.js";
import { authenticate } from "./authenticate.js";
import { sharedPoolFor } from "./aws-quotas.js";
import { EmulatorClock } from "./clock.js";
import type { EmulatorContext } from "./context.js";
import { internal, KmsError } from "./errors.js";
import { ImportTokenCodec } from "./import-token.js";
import { KeyStore } from "./key-store.js";
import { OPERATIONS } from "./operations/index.js";
import { TAGGING_OPERATIONS } from "./operations/tagging.js";
import { type KmsEmulatorOptions, type ResolvedOptions, resolveOptions } from "./options.js";
import type { Input } from "./params.js";
import { injectedLatencyMs, type KmsEmulatorStats, QuotaBuckets, StatsCounter } from "./quotas.js";
import { loadState, StateSaver, serializeState } from "./state-file.js";
import { answerSts } from "./sts.js";
import { prepareTagging } from "./tagging-setup.js";
import { operationName, readJsonBody, sendError, sendResult, taggingOperationName } from "./wire.js";
import { WrappingKeyPool } from "./wrapping-key-pool.js";

/** A running KMS emulator. */
export interface KmsEmulator {
  /** Endpoint for `new KMSClient({ endpoint })`, e.g. `http://127.0.0.1:43121`. */
  url: string;
  port: number;
  /** Stops listening, drops connections, saves state and stops wrapping-key generation. */
  close(): Promise<void>;
  /** For tests: calls, throttles and injected faults per Region and operation. */
  stats(): KmsEmulatorStats;
  /**
   * For tests: the ids of every key in a Region, including keys callers cannot see yet (consistencyDelayMs)
   * and keys pending deletion, so a duplicate made moments ago is still counted.
   */
  allKeyIds(region: string, account?: string): string[];
  /**
   * For tests: moves the emulator's clock for key state forward (import tokens, ValidTo, deletion dates), so
   * an expiry can be rehearsed without waiting for it. Not reachable as a KMS operation.
   */
  advanceClock(ms: number): void;
}

interface Pipeline {
  options: ResolvedOptions;
  accounts: EmulatorAccounts;
  context: EmulatorContext;
  quotas: QuotaBuckets;
  stats: StatsCounter;
  saver: StateSaver | undefined;
  /** Requests counted per Region and operation, for `lostResponseEvery` and `faultEvery`. */
  answered: AnswerCounter;
}

/** Counts answers per key ("region/operation"): `next` returns this answer's 1-based number. */
class AnswerCounter {
  readonly #counts = new Map<string, number>();
  next(key: string): number {
    const count = (this.#counts.get(key) ?? 0) + 1;
    this.#counts.set(key, count);
    return count;
  }
}

/** The KeySpec of the key a request names (undefined when it names none, or none that resolves). */
function keySpecOf(
  accounts: EmulatorAccounts,
  account: string,
  region: string,
  input: Input,
): string | undefined {
  const keyId = input["KeyId"];
  if (typeof keyId !== "string") return undefined;
  try {
    return accounts.account(account).store.resolveKey(region, keyId, true).keySpec;
  } catch {
    return undefined;
  }
}

async function runRequest(pipeline: Pipeline, request: IncomingMessage, response: ServerResponse) {
  const { options, context, stats } = pipeline;
  const started = performance.now();
  let region = "unknown";
  const tagging = taggingOperationName(request);
  const operation = tagging ?? operationName(request);
  const { accounts } = pipeline;
  // Signatures carry the caller's real time: checked against the host's clock, never the jumped one.
  const signed = await authenticate(request, response, accounts.lookup, Date.now(), context.logger);
  if (!signed) return;
  if (signed.service === "sts") {
    // STS on the same endpoint (no quotas or injected faults: only KMS is rehearsed).
    const action = await answerSts(request, response, accounts, signed.accessKeyId).catch(
      (error: unknown) => {
        context.logger.error({ err: error }, "kms-emulator: STS request failed");
        request.socket.destroy();
        return undefined;
      },
    );
    stats.count(signed.region, action ?? "unknown", "calls");
    return;
  }
  try {
    if (request.method !== "POST") throw new KmsError("UnknownOperationException", "Only POST / is served.");
    region = signed.region;
    // Each API is signed for its own service name: KMS for "kms", the Resource Groups Tagging API for "tagging".
    const service = tagging ? "tagging" : "kms";
    if (operation && signed.service !== service)
      throw new KmsError(
        "InvalidSignatureException",
        `Credential should be scoped to correct service: '${service}'.`,
      );
    stats.count(region, operation ?? "unknown", "calls");
    const delay = injectedLatencyMs(options.latencyMs);
    if (delay > 0) await sleep(delay);
    // Quotas hold per account and Region (AWS KMS Developer Guide, "Quotas").
    const account = signed.account ?? accounts.homeAccountId;
    // The request is read first: which shared pool a cryptographic operation draws from depends on its key.
    const input = await readJsonBody(request);
    const pool =
      operation && !tagging
        ? sharedPoolFor(operation, keySpecOf(accounts, account, region, input))
        : undefined;
    if (operation && !pipeline.quotas.take(`${account}/${region}`, operation, pool)) {
      stats.count(region, operation, "throttled");
      // The Resource Groups Tagging API names its throttle ThrottledException.
      throw new KmsError(tagging ? "ThrottledException" : "ThrottlingException", "Rate exceeded");
    }
    const everyFault =
      options.faultEvery !== undefined &&
      pipeline.answered.next(`${region}/faults`) % options.faultEvery === 0;
    if ((options.faultRate > 0 && Math.random() < options.faultRate) || everyFault) {
      stats.count(region, operation ?? "unknown", "faults");
      throw internal("Injected fault: KMS had an internal error. Try again.");
    }
    if (options.resetRate > 0 && Math.random() < options.resetRate) {
      stats.count(region, operation ?? "unknown", "resets");
      request.socket.destroy();
      return;
    }
    if (operation) {
      const keyId = typeof input["KeyId"] === "string" ? { keyId: input["KeyId"] } : {};
      await options.beforeOperation?.({ region, operation, ...keyId });
    }
    const definition = operation ? (tagging ? TAGGING_OPERATIONS : OPERATIONS)[operation] : undefined;
    if (!definition)
      throw new KmsError(
        "UnknownOperationException",
        `Unknown operation ${String(request.headers["x-amz-target"])}`,
      );
    const result = await definition.run({ ...context, ...accounts.account(account), region }, input);
    if (definition.mutates) await pipeline.saver?.save();
    if (operation === "GetParametersForImport" && typeof result["ImportToken"] === "string")
      options.onImportTokenIssued?.(Buffer.from(result["ImportToken"], "base64"));
    const lostRate =
      typeof options.lostResponseRate === "number"
        ? options.lostResponseRate
        : (options.lostResponseRate[operation ?? ""] ?? 0);
    const every = options.lostResponseEvery[operation ?? ""];
    const nth = every ? pipeline.answered.next(`${region}/${operation}`) : 0;
    if ((lostRate > 0 && Math.random() < lostRate) || (every !== undefined && nth % every === 0)) {
      stats.count(region, operation ?? "unknown", "lostResponses");
      request.socket.destroy();
      return;
    }
    sendResult(response, result);
    context.logger.debug(
      { region, operation, status: 200, ms: Math.round(performance.now() - started) },
      "kms-emulator: request",
    );
  } catch (error) {
    let kmsError = error instanceof KmsError ? error : internal("KMS had an internal error.");
    // The Resource Groups Tagging API's 5xx is InternalServiceException.
    if (tagging && kmsError.type === "KMSInternalException")
      kmsError = new KmsError("InternalServiceException", kmsError.message, kmsError.status);
    if (!(error instanceof KmsError))
      context.logger.error({ err: error, region, operation }, "kms-emulator: unexpected failure");
    request.resume();
    sendError(response, kmsError);
    context.logger.debug(
      { region, operation, status: kmsError.status, error: kmsError.type },
      "kms-emulator: request failed",
    );
  }
}

/**
 * Starts a KMS emulator speaking AWS JSON 1.1, for `@aws-sdk/client-kms` with an endpoint override. The same
 * endpoint answers STS GetCallerIdentity (`@aws-sdk/client-sts`) with an identity in `accountId`.
 */
export async function startKmsEmulator(options?: KmsEmulatorOptions): Promise<KmsEmulator> {
  const resolved = resolveOptions(options);
  const clock = new EmulatorClock(resolved.clockOffsetMs);
  const loaded = resolved.stateFile
    ? await loadState(resolved.stateFile, resolved.accountId, clock.now)
    : undefined;
  const store = loaded?.store ?? new KeyStore(resolved.accountId, clock.now);
  store.consistencyDelayMs = resolved.consistencyDelayMs;
  store.random = resolved.consistencyRandom;
  const tokenCodec = new ImportTokenCodec(loaded?.tokenSecret);
  const wrappingKeyPolicy = {
    size: resolved.wrappingKeyPoolSize,
    reuse: resolved.wrappingKeyReuse,
    prepare: resolved.wrappingKeyPrepare,
  };
  const wrappingKeys = new WrappingKeyPool(wrappingKeyPolicy);
  await wrappingKeys.prepare();
  const stateFile = resolved.stateFile;
  const tagIndex = prepareTagging(store, resolved);
  const pipeline: Pipeline = {
    options: resolved,
    accounts: new EmulatorAccounts(
      resolved.accountId,
      { store, tagIndex },
      resolved,
      resolved.credentials,
      Date.now,
      clock.now,
    ),
    context: {
      store,
      tokenCodec,
      wrappingKeys,
      logger: resolved.logger,
      tokenTtlMs: resolved.tokenTtlMs,
      acceptKwpZeroPadding: resolved.acceptKwpZeroPadding,
      now: clock.now,
      tagIndex,
      maxKeysPerRegion: resolved.maxKeysPerRegion,
    },
    quotas: new QuotaBuckets(resolved.quotas),
    stats: new StatsCounter(),
    answered: new AnswerCounter(),
    saver: stateFile ? new StateSaver(stateFile, () => serializeState(store, tokenCodec.secret)) : undefined,
  };
  const server = createServer((request, response) => void runRequest(pipeline, request, response));
  // Node closes idle keep-alive connections after 5 s; a client pausing about that long (a test's sleep, a
  // slow key generation) races the close and sees ECONNRESET. AWS endpoints keep them about a minute.
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(resolved.port, resolved.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = resolved.host.includes(":") ? `[${resolved.host}]` : resolved.host;
  const url = `http://${host}:${port}`;
  resolved.logger.info(
    {
      url,
      stateFile,
      quotas: Object.keys(resolved.quotas).length > 0,
      consistencyDelayMs: resolved.consistencyDelayMs,
      wrappingKeys: wrappingKeyPolicy,
    },
    "kms-emulator: listening",
  );
  resolved.logger.info(
    { wrappingKeys: wrappingKeyPolicy },
    `kms-emulator: wrapping keys: ${wrappingKeyPolicy.size} generated ahead per size, each serving ` +
      `${wrappingKeyPolicy.reuse} GetParametersForImport answer(s) (1 = a fresh key per call, as AWS KMS); ` +
      "every answer has its own import token, bound to its key",
  );
  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    stats: () => pipeline.stats.snapshot(),
    allKeyIds: (region, account) => [
      ...pipeline.accounts
        .account(account ?? resolved.accountId)
        .store.region(region)
        .keys.keys(),
    ],
    advanceClock: (ms) => {
      clock.advance(ms);
      resolved.logger.info({ offsetMs: clock.offsetMs }, "kms-emulator: clock moved forward");
    },
    close: () => {
      closing ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        await wrappingKeys.close();
        await pipeline.saver?.save();
        await pipeline.saver?.flush();
        resolved.logger.info({ url }, "kms-emulator: closed");
      })();
      return closing;
    },
  };
}
