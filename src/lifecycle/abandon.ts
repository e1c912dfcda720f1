import type { Ledger } from "../shared/ledger/index.js";
import { LedgerConflictError } from "../shared/ledger/index.js";
import type { MigrationRecord } from "../shared/migration.js";
import type { KmsTarget } from "../shared/targets.js";
import { PROVENANCE_TAGS, tagValue } from "../workers/phases/provenance.js";
import type { CleanupKmsPort } from "./cleanup-kms.js";
import {
  findOrphans,
  type HeldKeys,
  heldKeysOf,
  holdsMaterial,
  ORPHAN_WITH_MATERIAL,
  sourceOf,
} from "./orphans.js";

/** What `abandon` is asked to do. */
export interface AbandonRequest {
  /** The campaign's queue prefix: the value of the `hsm2kms:campaign` tag on its keys. */
  prefix: string;
  /** Every key the campaign created, migrated ones too (rehearsals). @defaultValue false: the unmigrated only */
  all: boolean;
  /** Also the orphans: keys tagged with this campaign that its ledger does not know. */
  orphans: boolean;
  /** Act; false lists what would be done (the default of the command). */
  act: boolean;
  /** Only these Regions; undefined: every Region of the ledger. */
  regions?: readonly string[] | undefined;
  /** Region to look for orphans in when the ledger names none. */
  defaultRegion?: string | undefined;
  /** ScheduleKeyDeletion's PendingWindowInDays (7-30, `HSM2KMS_DELETION_WINDOW_DAYS`). */
  deletionWindowDays: number;
  now?: () => Date;
}

/** One KMS key (or a ledger record without one) abandon looked at, and what came of it. */
export interface AbandonLine {
  kind: "ledger" | "orphan";
  region: string;
  /** `label (CKA_ID id)` of the HSM key, as far as known. */
  source: string;
  migrationId: string | undefined;
  keyId: string | undefined;
  /** `would-abandon` (dry run), `abandoned`, `already-abandoned`, `left-alone` (not this campaign's), `failed`. */
  result: "would-abandon" | "abandoned" | "already-abandoned" | "left-alone" | "failed";
  detail: string;
}

export interface AbandonPorts {
  /** The cleanup port of a Region in an account (undefined: the caller's own). */
  kms: (region: string, account?: string | undefined) => CleanupKmsPort;
}

const GONE_STATES = new Set(["PendingDeletion", "PendingReplicaDeletion"]);

/**
 * Abandons one KMS key: DeleteImportedKeyMaterial, DeleteAlias for the campaign's alias if it still names this
 * key, ScheduleKeyDeletion. Refuses a key without this campaign's `hsm2kms:campaign` tag, read from the key
 * itself (ListResourceTags), never from the eventually consistent tag index. Each step is skipped when done.
 * With `orphan`, a key that holds material is left alone (see holdsMaterial).
 */
async function abandonKmsKey(
  kms: CleanupKmsPort,
  keyId: string,
  alias: string | undefined,
  request: AbandonRequest,
  orphan = false,
): Promise<{ result: AbandonLine["result"]; detail: string }> {
  const info = await kms.describeKey(keyId);
  if (!info) return { result: "already-abandoned", detail: "KMS no longer holds the key" };
  const tags = await kms.listResourceTags(keyId);
  const campaign = tags[PROVENANCE_TAGS.campaign];
  if (campaign !== tagValue(request.prefix))
    return {
      result: "left-alone",
      detail: `the key's ${PROVENANCE_TAGS.campaign} tag is ${campaign === undefined ? "missing" : `"${campaign}"`}, not "${tagValue(request.prefix)}": only this campaign's keys are abandoned`,
    };
  if (orphan && holdsMaterial(info.keyState))
    return { result: "left-alone", detail: `${info.keyState}: ${ORPHAN_WITH_MATERIAL}` };
  const aliasTarget = alias ? await kms.describeKey(alias) : undefined;
  const deleteAlias = alias !== undefined && aliasTarget?.keyId === info.keyId;
  if (GONE_STATES.has(info.keyState) && !deleteAlias)
    return { result: "already-abandoned", detail: `the key is ${info.keyState}` };
  const steps = [
    holdsMaterial(info.keyState) ? "delete imported material" : undefined,
    deleteAlias ? `delete alias ${alias}` : undefined,
    GONE_STATES.has(info.keyState) ? undefined : `schedule deletion in ${request.deletionWindowDays} days`,
  ].filter((step): step is string => step !== undefined);
  if (!request.act) return { result: "would-abandon", detail: `${info.keyState}: ${steps.join(", ")}` };
  // AWS KMS Developer Guide, "Deleting imported key material": the key becomes unusable at once (PendingImport),
  // before the waiting period of ScheduleKeyDeletion (API Reference: 7-30 days) even starts.
  if (holdsMaterial(info.keyState)) await kms.deleteImportedKeyMaterial(keyId);
  if (deleteAlias && alias) await kms.deleteAlias(alias);
  let deletion = "";
  if (!GONE_STATES.has(info.keyState)) {
    const date = await kms.scheduleKeyDeletion(keyId, request.deletionWindowDays);
    deletion = date ? ` (deleted on ${date.toISOString()})` : "";
  }
  return { result: "abandoned", detail: `${steps.join(", ")}${deletion}` };
}

/** Marks a record abandoned: failed with ABANDONED, at phase done, its jobs made stale by a new generation. */
async function markAbandoned(
  ledger: Ledger,
  id: string,
  keyId: string | undefined,
  now: Date,
): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const stored = await ledger.get(id);
    if (!stored || stored.record.abandonedAt) return;
    const { record, rev } = stored;
    const at = now.toISOString();
    const marked: MigrationRecord = {
      ...record,
      status: "failed",
      phase: "done",
      generation: record.generation + 1,
      importParams: undefined,
      wrappedMaterialB64: undefined,
      abandonedAt: at,
      error: {
        code: "ABANDONED",
        kind: "fatal",
        phase: record.phase === "done" ? "verify" : record.phase,
        message: keyId
          ? `abandoned by hsm2kms abandon: KMS key ${keyId} has no material and is scheduled for deletion`
          : "abandoned by hsm2kms abandon before any KMS key was created",
        at,
      },
      updatedAt: at,
    };
    try {
      await ledger.save(marked, rev, now.getTime());
      return;
    } catch (error) {
      if (!(error instanceof LedgerConflictError)) throw error;
    }
  }
  throw new Error(
    `the ledger record ${id} kept changing under abandon: stop the campaign's workers and run it again`,
  );
}

/** The campaign's records abandon is asked about: unmigrated ones (all with --all), in the asked Regions. */
function wanted(record: MigrationRecord, request: AbandonRequest): boolean {
  if (request.regions && !request.regions.includes(record.region)) return false;
  return request.all || record.status !== "migrated";
}

async function abandonRecord(
  ledger: Ledger,
  record: MigrationRecord,
  ports: AbandonPorts,
  request: AbandonRequest,
): Promise<AbandonLine[]> {
  const kms = ports.kms(record.region, record.account);
  const base = {
    kind: "ledger" as const,
    region: record.region,
    source: sourceOf(record),
    migrationId: record.id,
  };
  if (record.abandonedAt)
    return [
      {
        ...base,
        keyId: record.kmsKeyId,
        result: "already-abandoned",
        detail: `abandoned at ${record.abandonedAt}`,
      },
    ];
  // A CreateKey whose answer never came may have made a key the record does not name: find it by its tag.
  let keyIds = record.kmsKeyId ? [record.kmsKeyId] : [];
  if (!record.kmsKeyId && record.createStartedAt)
    keyIds = (await kms.findKeysByTag(PROVENANCE_TAGS.migrationId, record.id)).map((key) => key.keyId);
  const lines: AbandonLine[] = [];
  for (const keyId of keyIds) {
    try {
      const outcome = await abandonKmsKey(kms, keyId, record.request.alias, request);
      lines.push({ ...base, keyId, ...outcome });
    } catch (error) {
      lines.push({
        ...base,
        keyId,
        result: "failed",
        detail: error instanceof Error ? error.message : String(error),
      });
    }
  }
  if (keyIds.length === 0)
    lines.push({
      ...base,
      keyId: undefined,
      result: request.act ? "abandoned" : "would-abandon",
      detail: "no KMS key was created: the record only",
    });
  const settled = lines.every((line) => line.result === "abandoned" || line.result === "already-abandoned");
  if (request.act && settled)
    await markAbandoned(ledger, record.id, keyIds[0], (request.now ?? (() => new Date()))());
  return lines;
}

/** Abandons the campaign's orphans in one Region (see findOrphans). */
async function sweepOrphans(
  ledger: Ledger,
  target: KmsTarget,
  ports: AbandonPorts,
  request: AbandonRequest,
  held: HeldKeys,
): Promise<AbandonLine[]> {
  const { region, account } = target;
  const kms = ports.kms(region, account);
  const lines: AbandonLine[] = [];
  for (const orphan of await findOrphans(ledger, kms, target, request.prefix, held)) {
    const base = {
      kind: "orphan" as const,
      region,
      source: sourceOf(orphan.record, orphan.tags),
      migrationId: orphan.migrationId,
      keyId: orphan.keyId,
    };
    try {
      const outcome = await abandonKmsKey(kms, orphan.keyId, orphan.record?.request.alias, request, true);
      if (outcome.result !== "already-abandoned") lines.push({ ...base, ...outcome });
    } catch (error) {
      lines.push({
        ...base,
        result: "failed",
        detail: error instanceof Error ? error.message : String(error),
      });
    }
  }
  return lines;
}

/**
 * Abandons a campaign's keys (or lists what it would do): for each key the request covers, its imported material
 * and the alias the campaign made are deleted and the KMS key scheduled for deletion, then the ledger record is
 * marked abandoned. Idempotent: a repeat finds each step done and skips it.
 */
export async function abandonCampaign(
  ledger: Ledger,
  ports: AbandonPorts,
  request: AbandonRequest,
  onLine: (line: AbandonLine) => void,
): Promise<AbandonLine[]> {
  const lines: AbandonLine[] = [];
  const emit = (line: AbandonLine) => {
    lines.push(line);
    onLine(line);
  };
  for await (const record of ledger.records())
    if (wanted(record, request))
      for (const line of await abandonRecord(ledger, record, ports, request)) emit(line);
  if (request.orphans) {
    const regions = new Set(request.regions ?? (await ledger.regions()));
    if (regions.size === 0 && request.defaultRegion) regions.add(request.defaultRegion);
    // The caller's own account in each Region, then the other accounts the ledger sends keys to there.
    const others = (await ledger.targets()).filter(
      (target) => target.account !== undefined && regions.has(target.region),
    );
    const held = heldKeysOf(ledger);
    for (const target of [...[...regions].sort().map((region) => ({ region })), ...others])
      for (const line of await sweepOrphans(ledger, target, ports, request, held)) emit(line);
  }
  return lines;
}
