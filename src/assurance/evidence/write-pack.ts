import { constants } from "node:fs";
import { access, mkdir, mkdtemp, open, readdir, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { ConfigError } from "../../shared/errors.js";
import type { MigrationRecord } from "../../shared/migration.js";
import { evidenceRecord, notMigratedEntry, recordFileName, sourceLabelOf } from "./record.js";
import { digestFor, sha256Hex, verifyKmsSignature } from "./signatures.js";
import type { PackSigner } from "./signer.js";
import {
  type EvidenceManifest,
  MANIFEST_FILE,
  MANIFEST_FORMAT,
  type ManifestEntry,
  type ManifestSignature,
  type NotMigratedEntry,
  type OperatorIdentity,
  RECORDS_FOLDER,
  SIGNATURE_FILE,
  SIGNATURE_FORMAT,
} from "./types.js";

export interface WritePackOptions {
  /** The pack folder: must not exist, or be empty, unless `force`. */
  dir: string;
  /** Replace a non-empty `dir`. @defaultValue false */
  force?: boolean;
  records: AsyncIterable<MigrationRecord>;
  operator: OperatorIdentity;
  /** The ledger's prefix, named in the manifest. */
  campaign: string;
  toolVersion: string;
  signer?: PackSigner | undefined;
  now?: () => Date;
}

export interface WrittenPack {
  manifest: EvidenceManifest;
  signature: ManifestSignature | undefined;
}

/**
 * Throws a ConfigError when `dir` cannot take a new pack: a file, a non-empty folder without `force`, or a
 * new folder whose parent is missing or not writable.
 */
export async function checkPackTarget(dir: string, force: boolean): Promise<void> {
  const found = await stat(dir).catch(() => undefined);
  if (!found) {
    // The pack is staged beside `dir`: its parent must exist and take new entries.
    const parent = dirname(resolve(dir));
    const parentFound = await stat(parent).catch(() => undefined);
    if (!parentFound?.isDirectory())
      throw new ConfigError(
        `--out ${dir}: the folder ${parent} does not exist; create it first or choose another`,
      );
    await access(parent, constants.W_OK).catch((error: NodeJS.ErrnoException) => {
      throw new ConfigError(
        `--out ${dir}: cannot create it in ${parent} (${error.code ?? "error"}); choose a writable folder`,
      );
    });
    return;
  }
  if (!found.isDirectory()) throw new ConfigError(`--out ${dir}: exists and is not a folder`);
  if (!force && (await readdir(dir)).length > 0)
    throw new ConfigError(
      `--out ${dir}: the folder is not empty; choose another or add --force to replace it`,
    );
}

/** Writes a file and flushes it to disk, so a rename after it never publishes a half-written file. */
async function writeDurably(path: string, bytes: Buffer): Promise<void> {
  const file = await open(path, "wx", 0o640);
  try {
    await file.writeFile(bytes);
    await file.sync();
  } finally {
    await file.close();
  }
}

const json = (value: unknown) => Buffer.from(`${JSON.stringify(value, null, 2)}\n`, "utf8");

/** Moves the finished pack into place; a non-empty target (only with force) is moved aside first, then removed. */
async function publish(staging: string, dir: string, force: boolean): Promise<void> {
  await checkPackTarget(dir, force);
  const existing = await stat(dir).catch(() => undefined);
  if (existing && (await readdir(dir)).length > 0) {
    const aside = `${staging}.replaced`;
    await rename(dir, aside);
    await rename(staging, dir);
    await rm(aside, { recursive: true, force: true });
    return;
  }
  // rename(2) replaces an empty folder in one step.
  await rename(staging, dir);
}

async function signManifest(
  signer: PackSigner,
  manifestBytes: Buffer,
  now: Date,
): Promise<ManifestSignature> {
  const digest = digestFor(signer.algorithm, manifestBytes);
  const signature = await signer.signDigest(digest);
  // Check before publishing: a pack whose signature fails would only be found out by the auditor.
  if (!verifyKmsSignature(signer.algorithm, manifestBytes, signer.publicKey, signature))
    throw new Error(`KMS key ${signer.keyArn} returned a signature its public key does not verify`);
  return {
    format: SIGNATURE_FORMAT,
    algorithm: signer.algorithm,
    messageType: "DIGEST",
    manifestDigest: digest.toString("hex"),
    signatureB64: signature.toString("base64"),
    keyArn: signer.keyArn,
    publicKeySpkiB64: signer.publicKeySpki.toString("base64"),
    publicKeySha256: sha256Hex(signer.publicKeySpki),
    signedAt: now.toISOString(),
  };
}

/**
 * Writes an evidence pack: one record per migrated key, then the manifest, then its signature, all in a
 * staging folder beside `dir` that is renamed into place only when complete. A crash leaves the staging
 * folder (`.<name>.tmp-*`), never a `dir` that verifies but misses records.
 */
export async function writeEvidencePack(options: WritePackOptions): Promise<WrittenPack> {
  const now = options.now ?? (() => new Date());
  const dir = resolve(options.dir);
  await checkPackTarget(dir, options.force ?? false);
  await mkdir(dirname(dir), { recursive: true });
  const staging = await mkdtemp(join(dirname(dir), `.${basename(dir)}.tmp-`));
  try {
    await mkdir(join(staging, RECORDS_FOLDER), { mode: 0o750 });
    const entries: ManifestEntry[] = [];
    const notMigrated: NotMigratedEntry[] = [];
    let keys = 0;
    for await (const record of options.records) {
      keys++;
      const evidence = evidenceRecord(record, options.operator);
      if (!evidence) {
        notMigrated.push(
          notMigratedEntry(
            record,
            record.status === "migrated"
              ? "migrated, but the ledger lacks its KMS key or source facts"
              : undefined,
          ),
        );
        continue;
      }
      const file = recordFileName(record.id);
      const bytes = json(evidence);
      await writeDurably(join(staging, file), bytes);
      entries.push({
        file,
        sha256: sha256Hex(bytes),
        bytes: bytes.length,
        migrationId: record.id,
        sourceLabel: sourceLabelOf(record),
        account: record.account,
        region: record.region,
      });
    }
    entries.sort((a, b) => a.file.localeCompare(b.file));
    const manifest: EvidenceManifest = {
      format: MANIFEST_FORMAT,
      tool: { name: "hsm2kms", version: options.toolVersion },
      createdAt: now().toISOString(),
      campaign: options.campaign,
      operator: options.operator,
      counts: { keys, records: entries.length, notMigrated: notMigrated.length },
      records: entries,
      notMigrated,
    };
    const manifestBytes = json(manifest);
    await writeDurably(join(staging, MANIFEST_FILE), manifestBytes);
    const signature = options.signer ? await signManifest(options.signer, manifestBytes, now()) : undefined;
    if (signature) await writeDurably(join(staging, SIGNATURE_FILE), json(signature));
    await publish(staging, dir, options.force ?? false);
    return { manifest, signature };
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
}
