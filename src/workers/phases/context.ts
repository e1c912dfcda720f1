import type { Logger } from "pino";
import type { HsmPort } from "../../shared/hsm/types.js";
import type { WrappingKeySpec } from "../../shared/key-specs.js";
import type { KmsPort } from "../../shared/kms/types.js";
import type { MigrationRecord, PhaseName } from "../../shared/migration.js";

/** Settings the phases read (already validated; see shared/config.ts). */
export interface PhaseSettings {
  /** Refuse an import token with less than this left (shortened for short-lived tokens). */
  tokenSafetyMarginMs: number;
  /** ScheduleKeyDeletion window for a rolled-back key, 7-30. */
  deletionWindowDays: number;
  /** Size of the KMS wrapping key asked for in GetParametersForImport. @defaultValue RSA_4096 */
  wrappingKeySpec: WrappingKeySpec;
  /** Written into the provenance tag `hsm2kms:tool-version`. */
  toolVersion: string;
  /** The queue prefix, written into the provenance tag `hsm2kms:campaign` (absent: no such tag). */
  campaign?: string;
  /**
   * The wrap phase fetches its own import parameters, in the process that wraps, and trusts none from the
   * ledger (`HSM2KMS_PARAMS_ON_HSM_HOST`): the wrapping public key never passes through Redis.
   * @defaultValue false
   */
  paramsOnHsmHost?: boolean;
  /**
   * After a CreateKey whose outcome is unknown (timeout, reset, 5xx, a worker killed in flight), how long
   * to keep asking the tag index, which is eventually consistent, before concluding that no key was made
   * (`HSM2KMS_TAG_INDEX_WAIT`). @defaultValue 300000 (5 minutes)
   */
  tagIndexWaitMs?: number;
}

/**
 * What a phase may touch. Side effects go through these ports only, so every phase runs the same against
 * fakes (unit tests), the in-process runner and the BullMQ workers.
 */
export interface PhaseContext {
  /** The HSM; throws HSM_NOT_CONFIGURED on a host without one. */
  hsm(): HsmPort;
  /** The KMS port of a Region, in `account` (a record's `account`; undefined: the caller's own). */
  kms(region: string, account?: string | undefined): KmsPort;
  now(): Date;
  randomBytes(size: number): Buffer;
  /**
   * Persists part of the record before a side effect whose result could be lost in a crash (e.g. CreateKey):
   * the repeat of the phase then knows to look for what the lost attempt may have done.
   */
  checkpoint(patch: Partial<MigrationRecord>): Promise<void>;
  /** Reads another key's record (a replica reads its primary). */
  lookup(migrationId: string): Promise<MigrationRecord | undefined>;
  logger: Logger;
  settings: PhaseSettings;
}

/** What a phase hands over: changes to the record and the phase to run next. */
export interface PhaseOutcome {
  patch: Partial<MigrationRecord>;
  next: PhaseName | "done";
}

export type Phase = (ctx: PhaseContext, record: MigrationRecord) => Promise<PhaseOutcome>;
