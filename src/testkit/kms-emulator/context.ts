import type { Logger } from "../../shared/logger.js";
import type { ImportTokenCodec } from "./import-token.js";
import type { KeyStore } from "./key-store.js";
import type { Input } from "./params.js";
import type { TagIndex } from "./tag-index.js";
import type { WrappingKeyPool } from "./wrapping-key-pool.js";

/** What every operation can reach. */
export interface EmulatorContext {
  store: KeyStore;
  tokenCodec: ImportTokenCodec;
  wrappingKeys: WrappingKeyPool;
  logger: Logger;
  tokenTtlMs: number;
  acceptKwpZeroPadding: boolean;
  now: () => number;
  /** What the Resource Groups Tagging API sees (eventually consistent). */
  tagIndex: TagIndex;
  /** The "AWS KMS keys" resource quota of every Region. */
  maxKeysPerRegion: number;
}

/** The context of one request: the Region comes from its SigV4 credential scope. */
export interface RequestContext extends EmulatorContext {
  region: string;
}

export type OperationResult = Record<string, unknown>;

export interface OperationDefinition {
  run: (ctx: RequestContext, input: Input) => OperationResult | Promise<OperationResult>;
  /** Whether a success changes state (and so must be persisted). */
  mutates: boolean;
}
