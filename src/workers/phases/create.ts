import { deferred, fatal, isMigrationError, notVisible } from "../../shared/errors.js";
import type { KmsKeyInfo, KmsPort } from "../../shared/kms/types.js";
import { LedgerConflictError } from "../../shared/ledger/index.js";
import { describeSource, type MigrationRecord, type SourceKeyFacts } from "../../shared/migration.js";
import { accountOfArn } from "../../shared/targets.js";
import { ensureAlias } from "./alias.js";
import type { Phase, PhaseContext } from "./context.js";
import { paramsPhase } from "./params.js";
import { keyTags, PROVENANCE_TAGS } from "./provenance.js";
import { replicate } from "./replicate.js";

/** @defaultValue of PhaseSettings.tagIndexWaitMs: 5 minutes, past AWS's "sometimes several minutes". */
export const DEFAULT_TAG_INDEX_WAIT_MS = 5 * 60_000;

async function isOurs(kms: KmsPort, keyId: string, record: MigrationRecord): Promise<boolean> {
  const tags = await kms.listResourceTags(keyId);
  return tags[PROVENANCE_TAGS.migrationId] === record.id;
}

/** The key the manifest's alias already names, if hsm2kms made it for this key; else ALIAS_TAKEN. */
async function findByAlias(kms: KmsPort, record: MigrationRecord): Promise<KmsKeyInfo | undefined> {
  const alias = record.request.alias;
  if (!alias) return undefined;
  const target = await kms.describeKey(alias);
  if (!target) return undefined;
  if (await isOurs(kms, target.keyId, record)) return target;
  throw fatal(
    "ALIAS_TAKEN",
    `${describeSource(record.source)}: ${alias} already points to KMS key ${target.keyId}, which hsm2kms did not create for this key; choose another alias or delete that one`,
  );
}

/**
 * The live KMS key carrying this migration's id tag, found through the Resource Groups Tagging API (a call
 * or two, however many keys the account holds), then checked with DescribeKey: keys pending deletion are
 * skipped, the key must be an EXTERNAL key of the source key's spec, and two live keys are never chosen
 * between silently.
 */
async function findByTag(kms: KmsPort, record: MigrationRecord): Promise<KmsKeyInfo | undefined> {
  const who = describeSource(record.source);
  const tag = `${PROVENANCE_TAGS.migrationId}=${record.id}`;
  const live: KmsKeyInfo[] = [];
  for (const candidate of await kms.findKeysByTag(PROVENANCE_TAGS.migrationId, record.id)) {
    const key = await kms.describeKey(candidate.keyId);
    // Listed by the tag index but not found: a key KMS has not propagated yet (or one deleted that the index
    // still lists). Creating now could make a second key: look again later, spending no attempt.
    if (!key)
      throw deferred(
        "TAGGED_KEY_NOT_VISIBLE",
        `${who}: the tag index lists KMS key ${candidate.keyId} with ${tag}, but DescribeKey does not find it yet; looking again before creating a key`,
        { retryAfterMs: 2000 },
      );
    if (key.keyState !== "PendingDeletion") live.push(key);
  }
  if (live.length > 1)
    throw fatal(
      "DUPLICATE_KMS_KEYS",
      `${who}: KMS keys ${live.map((key) => key.keyId).join(" and ")} in ${kms.region} all carry ${tag} and none is pending deletion; keep the one to use, schedule the deletion of the other(s), then \`hsm2kms retry --failed\``,
    );
  const [key] = live;
  if (!key) return undefined;
  const source = record.sourceKey;
  if (key.origin !== "EXTERNAL" || key.keySpec !== source?.keySpec || key.keyUsage !== source?.keyUsage)
    throw fatal(
      "KMS_KEY_MISMATCH",
      `${who}: KMS key ${key.keyId} carries ${tag} but is a ${key.origin ?? "?"} ${key.keySpec ?? "?"} ${key.keyUsage ?? "?"} key, not the EXTERNAL ${source?.keySpec} ${source?.keyUsage} key this source needs; remove its tag or schedule its deletion, then \`hsm2kms retry --failed\``,
    );
  return key;
}

/**
 * Looks for a KMS key made for this migration before: by the alias, then by the provenance tag. Before
 * every CreateKey, so a key enqueued again (a second campaign, a ledger lost) adopts its key. Two things
 * spare the tag index: a lookup that found none is not repeated while the CreateKey after it was refused
 * (a 4xx, a throttle: no key was made); and after a CreateKey whose outcome is unknown, "none" is only
 * believed once the index had `tagIndexWaitMs` to catch up (a deferred retry, spending no attempt).
 */
async function findEarlierKey(
  ctx: PhaseContext,
  kms: KmsPort,
  record: MigrationRecord,
): Promise<{ key: KmsKeyInfo | undefined; lookedUp: boolean }> {
  const byAlias = await findByAlias(kms, record);
  if (byAlias) return { key: byAlias, lookedUp: false };
  const waitMs = ctx.settings.tagIndexWaitMs ?? DEFAULT_TAG_INDEX_WAIT_MS;
  const now = ctx.now().getTime();
  const ambiguousAt = record.createStartedAt ? Date.parse(record.createStartedAt) : undefined;
  const lastLookup = record.tagLookupAt ? Date.parse(record.tagLookupAt) : undefined;
  if (ambiguousAt === undefined && lastLookup !== undefined && now - lastLookup < waitMs)
    return { key: undefined, lookedUp: false };
  const key = await findByTag(kms, record);
  if (key || ambiguousAt === undefined) return { key, lookedUp: true };
  const settlesAt = ambiguousAt + waitMs;
  if (now < settlesAt)
    throw deferred(
      "TAG_INDEX_SETTLING",
      `${describeSource(record.source)}: the CreateKey sent at ${record.createStartedAt} got no answer and the tag index shows no key for it yet; looking again until ${new Date(settlesAt).toISOString()} (HSM2KMS_TAG_INDEX_WAIT) before creating one`,
      { retryAfterMs: Math.max(100, Math.min(settlesAt - now, Math.ceil(waitMs / 10), 15_000)) },
    );
  ctx.logger.warn(
    { migrationId: record.id, createStartedAt: record.createStartedAt, waitedMs: now - ambiguousAt },
    "an earlier CreateKey got no answer and made no key the tag index shows: creating one",
  );
  return { key: undefined, lookedUp: true };
}

/** KMS answered and made nothing: a throttle, any 4xx, or a request hsm2kms held back itself. */
function refusedWithoutKey(error: unknown): boolean {
  if (!isMigrationError(error)) return false;
  const status = error.details?.["httpStatus"];
  return (
    error.kind === "throttled" ||
    error.details?.["held"] === true ||
    (typeof status === "number" && status >= 400 && status < 500)
  );
}

/**
 * Saves the new key's id. If the save conflicts, this worker lost the job (its lock expired while CreateKey
 * was in flight, e.g. a host cut off the network) and another worker owns the key now: unless the owner
 * adopted this very key, it is an orphan made by a late request, so it is scheduled for deletion (it holds
 * no material yet) before the conflict is passed on.
 */
async function recordCreatedKey(
  ctx: PhaseContext,
  kms: KmsPort,
  record: MigrationRecord,
  key: KmsKeyInfo,
): Promise<void> {
  try {
    // kmsChangedAt too: the alias is created right after, and need not checkpoint it again.
    await ctx.checkpoint({ kmsKeyId: key.keyId, kmsKeyArn: key.arn, kmsChangedAt: ctx.now().toISOString() });
  } catch (error) {
    if (!(error instanceof LedgerConflictError)) throw error;
    const owner = await ctx.lookup(record.id);
    if (owner?.kmsKeyId !== key.keyId) {
      ctx.logger.warn(
        { migrationId: record.id, kmsKeyId: key.keyId },
        "lost the job while creating: scheduling deletion of the key this late CreateKey made",
      );
      await kms.scheduleKeyDeletion(key.keyId, ctx.settings.deletionWindowDays);
    }
    throw error;
  }
}

/** CreateKey, then the new key's id into the ledger before anything else can fail. */
async function createNewKey(
  ctx: PhaseContext,
  kms: KmsPort,
  record: MigrationRecord,
  source: SourceKeyFacts,
): Promise<KmsKeyInfo> {
  let key: KmsKeyInfo;
  try {
    key = await kms.createKey({
      keySpec: source.keySpec,
      keyUsage: source.keyUsage,
      description:
        record.request.description ??
        `Imported by hsm2kms from HSM key "${source.label}" (id ${source.idHex || "none"})`,
      tags: keyTags(record, ctx.settings.toolVersion, ctx.settings.campaign),
      multiRegion: record.request.multiRegion,
      policy: record.request.policy,
    });
  } catch (error) {
    // KMS answered and made nothing: the next attempt has no lost key to wait for.
    if (refusedWithoutKey(error)) await ctx.checkpoint({ createStartedAt: undefined });
    throw error;
  }
  await recordCreatedKey(ctx, kms, record, key);
  return key;
}

/**
 * create (any host): CreateKey with Origin=EXTERNAL, the key's spec and usage, tags (the manifest's plus
 * provenance) and description; then CreateAlias. Idempotent: a repeat finds the key it made instead of
 * creating a second one.
 */
export const create: Phase = async (ctx, record) => {
  if (record.replicaOf) return replicate(ctx, record);
  const source = record.sourceKey;
  if (!source) throw fatal("PHASE_ORDER", `${describeSource(record.source)}: create ran before preflight`);
  const kms = ctx.kms(record.region, record.account);

  let key = record.kmsKeyId ? await kms.describeKey(record.kmsKeyId) : undefined;
  let created = false;
  // The key this campaign made may not be visible yet: the scheduler waits within the consistency window.
  if (record.kmsKeyId && !key)
    throw notVisible(
      "KMS_KEY_MISSING",
      `${describeSource(record.source)}: KMS key ${record.kmsKeyId} recorded in the ledger is not found (DescribeKey: NotFoundException)`,
      { details: { operation: "DescribeKey", awsError: "NotFoundException" } },
    );
  if (!key) {
    const earlier = await findEarlierKey(ctx, kms, record);
    key = earlier.key;
    if (!key) {
      const at = ctx.now().toISOString();
      await ctx.checkpoint({
        createStartedAt: at,
        kmsChangedAt: at,
        ...(earlier.lookedUp ? { tagLookupAt: at } : {}),
      });
      key = await createNewKey(ctx, kms, record, source);
      created = true;
    }
  }
  // A role of the key's account acts in that account only (IAM); an ARN naming another one means the wrong role
  // or endpoint: stop before material goes into a key the manifest did not ask for.
  const keyAccount = accountOfArn(key.arn);
  if (record.account !== undefined && keyAccount !== record.account)
    throw fatal(
      "KMS_KEY_WRONG_ACCOUNT",
      `${describeSource(record.source)}: KMS key ${key.arn} is in account ${keyAccount}, not ${record.account} as the manifest asks`,
    );
  if (key.keyState === "PendingDeletion")
    throw fatal(
      "KMS_KEY_PENDING_DELETION",
      `${describeSource(record.source)}: KMS key ${key.keyId} is pending deletion; cancel the deletion or re-enqueue the key`,
    );
  await ensureAlias(ctx, kms, record, key.keyId, describeSource(record.source), created);
  return {
    patch: { kmsKeyId: key.keyId, kmsKeyArn: key.arn, aliasCreated: record.request.alias !== undefined },
    next: key.keyState === "Enabled" ? "verify" : paramsPhase(ctx.settings),
  };
};
