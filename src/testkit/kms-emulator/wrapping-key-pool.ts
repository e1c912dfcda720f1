import type { KeyObject } from "node:crypto";
import { newKeyPair } from "../../shared/crypto/key-pairs.js";
import { type RsaWrappingKeySpec, rsaWrappingKeyBits } from "./spec-table.js";

export interface WrappingKeyPair {
  privateKey: KeyObject;
  /** DER SubjectPublicKeyInfo, as GetParametersForImport returns it. */
  publicKeyDer: Buffer;
}

async function generateWrappingKey(spec: RsaWrappingKeySpec): Promise<WrappingKeyPair> {
  const { privateKey, publicKey } = await newKeyPair({
    type: "rsa",
    modulusLength: rsaWrappingKeyBits(spec),
  });
  return { privateKey, publicKeyDer: publicKey.export({ format: "der", type: "spki" }) };
}

/**
 * Pre-generated RSA wrapping keys per size. Nothing is generated until a size is first asked for; after
 * each take the pool refills in the background, one key at a time (RSA-4096 takes about a second of CPU,
 * and the machines running tests are shared). A take that finds the pool empty awaits its own generation.
 */
export class WrappingKeyPool {
  private readonly ready = new Map<RsaWrappingKeySpec, WrappingKeyPair[]>();
  private readonly refilling = new Map<RsaWrappingKeySpec, Promise<void>>();
  private closed = false;

  constructor(private readonly size: number) {}

  async take(spec: RsaWrappingKeySpec): Promise<WrappingKeyPair> {
    const pair = this.ready.get(spec)?.shift() ?? (await generateWrappingKey(spec));
    this.refill(spec);
    return pair;
  }

  private refill(spec: RsaWrappingKeySpec): void {
    if (this.closed || this.size <= 0 || this.refilling.has(spec)) return;
    const run = async () => {
      const ready = this.ready.get(spec) ?? [];
      this.ready.set(spec, ready);
      while (!this.closed && ready.length < this.size) ready.push(await generateWrappingKey(spec));
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
  }
}
