import type { SourceKeyRef, WrapPlan } from "./hsm/types.js";
import type { KeySpec, KeyUsage, WrappingAlgorithm, WrappingKeySpec } from "./key-specs.js";

/** The phases of one key's migration, in order (the README's "How it works"). */
export const PHASES = ["preflight", "create", "params", "wrap", "import", "verify"] as const;
export type PhaseName = (typeof PHASES)[number];

/** Phases that need the HSM (run only on HSM client hosts). */
export const HSM_PHASES: readonly PhaseName[] = ["preflight", "wrap"];

export function isPhaseName(value: string): value is PhaseName {
  return (PHASES as readonly string[]).includes(value);
}

export type MigrationStatus = "queued" | "in_progress" | "migrated" | "failed";
/**
 * How a migrated key was proven: `true` (identity proven against the HSM), `roundtrip` (AES: only a KMS round
 * trip can be proven), `unproven` (no evidence could be had, e.g. an adopted key whose HSM public key is not on
 * the token: the KMS key is left as it is, and its checks say why), `false` (a check proved a mismatch).
 */
export type Verified = "true" | "roundtrip" | "unproven" | "false";

/** What the manifest row asked for. */
export interface MigrationRequest {
  keySpec?: KeySpec | undefined;
  keyUsage?: KeyUsage | undefined;
  alias?: string | undefined;
  description?: string | undefined;
  tags: Record<string, string>;
  multiRegion: boolean;
  /** ISO-8601; material expires then. */
  expiresAt?: string | undefined;
  /** Regions this multi-Region primary is replicated into (each replica is its own record). */
  replicaRegions?: string[] | undefined;
  /** Key policy (JSON) for CreateKey/ReplicateKey. */
  policy?: string | undefined;
}

/** What preflight learnt about the source key (no secret). */
export interface SourceKeyFacts {
  label: string;
  idHex: string;
  keyType: string;
  objectClass: "private" | "secret";
  keySpec: KeySpec;
  keyUsage: KeyUsage;
  fingerprint: string;
  publicKeySpkiB64?: string | undefined;
  secretBytes?: number | undefined;
}

/** One set of import parameters. `importTokenB64` is a secret: dropped from the ledger once imported. */
export interface StoredImportParameters {
  wrappingAlgorithm: WrappingAlgorithm;
  wrappingKeySpec: WrappingKeySpec;
  wrappingPublicKeyB64: string;
  importTokenB64: string;
  validTo: string;
  fetchedAt: string;
}

/**
 * A challenge the HSM answered on an HSM host (at preflight; at wrap for records preflighted by an older
 * version), for a check that needs the HSM's answer (HMAC): verify, which may run anywhere, compares.
 */
export interface HsmChallenge {
  kind: "hmac";
  messageB64: string;
  /** The HSM's MAC of the message. */
  expectedB64: string;
}

export interface VerificationCheck {
  name: string;
  /**
   * `pass`, `fail` (the check proved a mismatch: a different value, or KMS's answer proves the material
   * differs), or `unproven` (the evidence to compare with is missing; `detail` says which).
   */
  result: "pass" | "fail" | "unproven";
  detail?: string | undefined;
  algorithm?: string | undefined;
  messageB64?: string | undefined;
  signatureB64?: string | undefined;
}

export interface MigrationErrorInfo {
  code: string;
  kind: string;
  phase: PhaseName;
  message: string;
  at: string;
}

/** The ledger's record of one key: everything report, status and the next phase need. */
export interface MigrationRecord {
  id: string;
  region: string;
  /**
   * The 12-digit AWS account the key goes to (manifest column `account`), reached through the role
   * HSM2KMS_ACCOUNTS_FILE names for it; undefined: the caller's own account.
   */
  account?: string | undefined;
  manifestLine?: number | undefined;
  source: SourceKeyRef;
  request: MigrationRequest;
  status: MigrationStatus;
  /** The phase to run next, or `done`. */
  phase: PhaseName | "done";
  /** Phase attempts spent, over all phases. */
  attempts: number;
  /** Attempts spent in the current phase (reset by every handover). */
  phaseAttempts: number;
  tokenRefreshes: number;
  /**
   * Bumped by every token refresh, manual retry and restart of a stranded key: part of job ids, so a phase can run
   * again.
   */
  generation: number;
  /**
   * For a replica of a multi-Region key: the migration id of its primary (same source key, another
   * Region). The replica's create phase is ReplicateKey, once the primary is migrated.
   */
  replicaOf?: string | undefined;
  /** Times a phase waited for something else (the primary of a replica) without spending an attempt. */
  deferrals?: number | undefined;
  sourceKey?: SourceKeyFacts | undefined;
  wrapPlan?: WrapPlan | undefined;
  /**
   * When a CreateKey was sent whose outcome is not known yet (set before it, cleared when KMS refused it):
   * while set, the create phase must look for the key that request may have made before making another.
   */
  createStartedAt?: string | undefined;
  /** When the create phase last asked the tag index for this key's KMS key and found none. */
  tagLookupAt?: string | undefined;
  /**
   * When this campaign last asked KMS for a change that KMS may show only later (CreateKey, CreateAlias,
   * ReplicateKey, ImportKeyMaterial): within the consistency window after it, "not found" means "not yet".
   */
  kmsChangedAt?: string | undefined;
  /** The current wait for KMS to show that change: since when, and how many looks (reset by every handover). */
  visibilityWait?: { since: string; waits: number } | undefined;
  kmsKeyId?: string | undefined;
  kmsKeyArn?: string | undefined;
  aliasCreated?: boolean | undefined;
  importParams?: StoredImportParameters | undefined;
  /** Ciphertext from the HSM, for the import phase; dropped once imported. */
  wrappedMaterialB64?: string | undefined;
  /** `fetchedAt` of the parameters the material was wrapped for: material and token must belong together. */
  wrappedForParams?: string | undefined;
  hsmChallenge?: HsmChallenge | undefined;
  /**
   * Set just before this record's ImportKeyMaterial call, `importedAt` after it: the proof that this migration
   * imported the KMS key's material itself, without which verify never deletes material (an adopted key).
   */
  importStartedAt?: string | undefined;
  importedAt?: string | undefined;
  verified?: Verified | undefined;
  checks?: VerificationCheck[] | undefined;
  rolledBack?: boolean | undefined;
  /**
   * When `hsm2kms abandon` gave the key up: its KMS key's material and aliases deleted and the key scheduled for
   * deletion; the record is then failed with code `ABANDONED` and never re-queued by `retry --failed`.
   */
  abandonedAt?: string | undefined;
  /** When `hsm2kms renew` last imported the same material again with a new ValidTo (`request.expiresAt`). */
  renewedAt?: string | undefined;
  /**
   * Set only on the copy of a record that `renew` runs through params..verify: the new ValidTo. An Enabled KMS
   * key then counts as imported only once its ValidTo is this one (to the second), not merely for being Enabled.
   */
  renewingTo?: string | undefined;
  /**
   * A renewal under way (compare-and-set in the ledger, so that two hosts never renew the key at once): who
   * holds it, the ValidTo it imports (a renewal taken over after its holder died imports the same one, so KMS
   * already showing it means done) and until when others keep off.
   */
  renewalClaim?: { holder: string; validTo: string; until: string } | undefined;
  /** The last renewal that failed (the key stays migrated until its material expires): code, message, when. */
  renewalError?: { code: string; message: string; at: string } | undefined;
  error?: MigrationErrorInfo | undefined;
  createdAt: string;
  updatedAt: string;
  completedAt?: string | undefined;
}

/** A new record for a manifest row, before any phase ran. */
export function newMigrationRecord(
  id: string,
  region: string,
  source: SourceKeyRef,
  request: MigrationRequest,
  now: Date,
  manifestLine?: number,
): MigrationRecord {
  const at = now.toISOString();
  return {
    id,
    region,
    manifestLine,
    source,
    request,
    status: "queued",
    phase: "preflight",
    attempts: 0,
    phaseAttempts: 0,
    tokenRefreshes: 0,
    generation: 0,
    createdAt: at,
    updatedAt: at,
  };
}

/** Queued or in progress: a key some phase job should be running (not migrated, failed or abandoned yet). */
export function isInFlight(record: Pick<MigrationRecord, "status">): boolean {
  return record.status === "queued" || record.status === "in_progress";
}

/** How a key is named in messages: its label and id, as the manifest gave them. */
export function describeSource(source: SourceKeyRef): string {
  const parts = [];
  if (source.label !== undefined) parts.push(`label "${source.label}"`);
  if (source.idHex !== undefined) parts.push(`id ${source.idHex}`);
  return `source key ${parts.join(", ")}`;
}
