import type { KeyObject } from "node:crypto";
import { newKeyPair } from "../../shared/crypto/key-pairs.js";
import { type RsaWrappingKeySpec, rsaWrappingKeyBits } from "./spec-table.js";

export interface WrappingKeyPair {
  privateKey: KeyObject;
  /** DER SubjectPublicKeyInfo, as GetParametersForImport returns it. */
  publicKeyDer: Buffer;
}

/** How the emulator makes and reuses its RSA wrapping keys. */
export interface WrappingKeyPolicy {
  /** Keys kept generated ahead per size, once the size has been asked for (or prepared). */
  size: number;
  /**
   * GetParametersForImport answers one wrapping key serves before it is retired; 1 is a fresh key per call.
   * Each answer still carries its own import token, bound to its KMS key and to this wrapping key.
   */
  reuse: number;
  /** Sizes generated before the emulator listens, so that no request waits for them. */
  prepare: readonly RsaWrappingKeySpec[];
}

async function generateWrappingKey(spec: RsaWrappingKeySpec): Promise<WrappingKeyPair> {
  const { privateKey, publicKey } = await newKeyPair({
    type: "rsa",
    modulusLength: rsaWrappingKeyBits(spec),
  });
  return { privateKey, publicKeyDer: publicKey.export({ format: "der", type: "spki" }) };
}

interface InService {
  pair: Promise<WrappingKeyPair>;
  uses: number;
}

/**
 * RSA wrapping keys per size, generated ahead. One key is in service at a time and serves `reuse` calls; then
 * the next ready key takes over and the pool refills in the background, one key at a time (RSA-4096 takes
 * about a second of CPU, and the machines running tests are shared). A take that finds nothing ready awaits
 * its own generation. Real KMS generates wrapping keys on its own hardware; reusing one for a few calls keeps
 * an emulator at raised quotas from taking the CPU of the pipeline it serves.
 */
export class WrappingKeyPool {
  private readonly ready = new Map<RsaWrappingKeySpec, WrappingKeyPair[]>();
  private readonly inService = new Map<RsaWrappingKeySpec, InService>();
  private readonly refilling = new Map<RsaWrappingKeySpec, Promise<void>>();
  private closed = false;

  constructor(private readonly policy: WrappingKeyPolicy) {}

  /** Generates `size` keys (at least one) of each prepared size; resolves when they are ready. */
  async prepare(): Promise<void> {
    for (const spec of this.policy.prepare) {
      const ready = this.readyList(spec);
      while (!this.closed && ready.length < Math.max(1, this.policy.size))
        ready.push(await generateWrappingKey(spec));
    }
  }

  /** The wrapping key for one GetParametersForImport answer. */
  take(spec: RsaWrappingKeySpec): Promise<WrappingKeyPair> {
    let current = this.inService.get(spec);
    if (!current || current.uses >= this.policy.reuse) {
      const next = this.readyList(spec).shift();
      const pair = next ? Promise.resolve(next) : generateWrappingKey(spec);
      current = { pair, uses: 0 };
      this.inService.set(spec, current);
      const started = current;
      // A failed generation must not stay in service for the calls after it.
      pair.catch(() => this.inService.get(spec) === started && this.inService.delete(spec));
      this.refill(spec);
    }
    current.uses++;
    return current.pair;
  }

  private readyList(spec: RsaWrappingKeySpec): WrappingKeyPair[] {
    const ready = this.ready.get(spec) ?? [];
    this.ready.set(spec, ready);
    return ready;
  }

  private refill(spec: RsaWrappingKeySpec): void {
    if (this.closed || this.policy.size <= 0 || this.refilling.has(spec)) return;
    const ready = this.readyList(spec);
    const run = async () => {
      while (!this.closed && ready.length < this.policy.size) ready.push(await generateWrappingKey(spec));
    };
    this.refilling.set(
      spec,
      run()
        .catch(() => undefined)
        .finally(() => this.refilling.delete(spec)),
    );
  }

  /** Stops refilling and waits for a generation in flight, so nothing outlives the emulator. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.refilling.values());
    this.ready.clear();
    this.inService.clear();
  }
}
