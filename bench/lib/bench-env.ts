import type { SampleKey } from "../../src/testkit/sample-keys.js";
import { deletePrefix, randomPrefix } from "../../test/helpers/redis.js";
import { type CachedToken, growCachedToken, openCachedToken } from "./cached-token.js";

export const REDIS_URL = process.env["REDIS_URL"] ?? "redis://127.0.0.1:6379";

/** Credentials the emulator accepts (it checks the SigV4 shape, not the secret). */
export const BENCH_CREDENTIALS = { accessKeyId: "bench", secretAccessKey: "bench" };

/**
 * The wrapping-key policy of every emulator the benchmarks start, the same as `hsm2kms kms-emulator`'s
 * defaults: two RSA-2048 keys generated before the emulator listens, each serving 100 GetParametersForImport
 * answers (one generation, ~0.2 s of CPU, per 100 keys), each answer with its own import token bound to its key.
 */
export const BENCH_WRAPPING_KEYS = {
  wrappingKeyPoolSize: 2,
  wrappingKeyReuse: 100,
  wrappingKeyPrepare: ["RSA_2048"],
} as const;

/** Target Regions, in the order scenarios use them. */
export const BENCH_REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"];

/**
 * What every scenario shares: one SoftHSM2 token with a pool of keys (kept in bench/.cache and reused across
 * runs, see cached-token.ts; migrations only read the keys, so each scenario takes a slice into its own Redis
 * prefix and its own emulator), and the cleanup of whatever the scenarios leave (Redis prefixes).
 */
export class BenchEnv {
  private readonly prefixes: string[] = [];

  private constructor(readonly token: CachedToken) {}

  static async open(): Promise<BenchEnv> {
    return new BenchEnv(await openCachedToken("main"));
  }

  /**
   * The first `count` keys of the token, making what is missing: mixed EC P-256/P-384/secp256k1, HMAC and
   * AES, the first four RSA-2048.
   */
  async keys(count: number): Promise<SampleKey[]> {
    return growCachedToken(this.token, count);
  }

  /** Keys on the token: what every figure runs on (the token is kept across runs and only grows). */
  get poolSize(): number {
    return this.token.keys.length;
  }

  /** A fresh Redis prefix, deleted at cleanup (queues and ledger). */
  prefix(label: string): string {
    const prefix = randomPrefix(`bench-${label}`);
    this.prefixes.push(prefix);
    return prefix;
  }

  async releasePrefix(prefix: string): Promise<void> {
    await deletePrefix(prefix, REDIS_URL);
    await deletePrefix(`{${prefix}.ledger}`, REDIS_URL);
    this.prefixes.splice(this.prefixes.indexOf(prefix), 1);
  }

  async close(): Promise<void> {
    for (const prefix of [...this.prefixes]) await this.releasePrefix(prefix);
  }
}
