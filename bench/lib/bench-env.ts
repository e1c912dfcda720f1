import type { SampleKey } from "../../src/sandbox/sample-keys.js";
import { addMixedKeys } from "../../test/helpers/fleet.js";
import { deletePrefix, randomPrefix } from "../../test/helpers/redis.js";
import { createTestToken, type TestToken } from "../../test/helpers/softhsm.js";

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
 * What every scenario shares: one SoftHSM2 token with a pool of keys (made once; migrations only read
 * them, so each scenario takes a slice into its own Redis prefix and its own emulator), and the cleanup
 * of whatever the scenarios leave (prefixes, the token directory).
 */
export class BenchEnv {
  private readonly prefixes: string[] = [];
  private pool: SampleKey[] = [];

  private constructor(readonly token: TestToken) {}

  static async open(): Promise<BenchEnv> {
    return new BenchEnv(await createTestToken());
  }

  /**
   * The first `count` keys of the pool, generating what is missing: mixed EC P-256/P-384/secp256k1, HMAC
   * and AES, the first `rsa` of the pool RSA-2048 (made once, on the first call).
   */
  async keys(count: number, rsa = 4): Promise<SampleKey[]> {
    if (this.pool.length < count) {
      const started = performance.now();
      // addMixedKeys numbers CKA_IDs from 0 on every call: the labels keep each key unique.
      const more = await addMixedKeys(
        this.token.env,
        `bench${this.pool.length}`,
        count - this.pool.length,
        this.pool.length === 0 ? rsa : 0,
      );
      this.pool.push(...more);
      process.stderr.write(
        `bench: generated ${more.length} keys in the HSM in ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
      );
    }
    return this.pool.slice(0, count);
  }

  /** Keys on the token so far (scenarios that ran before may have made more than a scenario asks for). */
  get poolSize(): number {
    return this.pool.length;
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
    await this.token.cleanup();
  }
}
