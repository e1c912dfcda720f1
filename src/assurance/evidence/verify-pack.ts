import { createPublicKey, type KeyObject } from "node:crypto";
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { readFileBounded } from "../../shared/bounded-read.js";
import { ConfigError } from "../../shared/errors.js";
import { digestFor, schemeOf, sha256Hex, verifyKmsSignature } from "./signatures.js";
import {
  type EvidenceManifest,
  MANIFEST_FILE,
  MANIFEST_FORMAT,
  type ManifestEntry,
  type ManifestSignature,
  SIGNATURE_FILE,
} from "./types.js";
import { verifyRecordContent } from "./verify-record.js";

/** What `evidence verify` found. The pack is good when `problems` is empty. */
export interface PackVerification {
  /** One line per problem, naming the file and the key. */
  problems: string[];
  /** Things the auditor should know that are not problems (an unpinned key, an unsigned pack). */
  warnings: string[];
  records: number;
  notMigrated: number;
  /** Record signature checks verified again here with the source public key. */
  signaturesReverified: number;
  signature:
    | { status: "absent" }
    | { status: "verified" | "failed"; keyArn: string; publicKeySha256: string; pinned: boolean };
}

// Caps on what a pack may hold (a pack is input from elsewhere; a record is a few KB, a manifest ~300
// bytes per key), so a planted /dev/zero or FIFO is refused instead of read without end.
const MAX_SMALL_FILE_BYTES = 64 * 1024;
const MAX_RECORD_BYTES = 1024 * 1024;
const MAX_MANIFEST_JSON_BYTES = 512 * 1024 * 1024;

const RECORD_FILE = /^records\/[A-Za-z0-9_-]{1,100}\.json$/;

/** A public key from a PEM (key or certificate) or DER (SPKI, or PKCS#1 RSA) file; unusable: ConfigError. */
export async function readPublicKeyFile(path: string): Promise<KeyObject> {
  const read = await readFileBounded(path, MAX_SMALL_FILE_BYTES, "a public key");
  if ("problem" in read) throw new ConfigError(`--public-key ${path} ${read.problem}`);
  const bytes = read.bytes;
  const attempts: Array<() => KeyObject> = bytes.includes("-----BEGIN")
    ? [() => createPublicKey(bytes.toString("utf8"))]
    : [
        () => createPublicKey({ key: bytes, format: "der", type: "spki" }),
        () => createPublicKey({ key: bytes, format: "der", type: "pkcs1" }),
      ];
  for (const attempt of attempts) {
    try {
      return attempt();
    } catch {
      // Try the next encoding.
    }
  }
  throw new ConfigError(`--public-key ${path}: not a PEM or DER public key`);
}

async function readManifest(dir: string): Promise<{ bytes: Buffer; manifest: EvidenceManifest }> {
  const found = await stat(dir).catch(() => undefined);
  if (!found?.isDirectory()) throw new ConfigError(`${dir}: not a folder`);
  const read = await readFileBounded(
    join(dir, MANIFEST_FILE),
    MAX_MANIFEST_JSON_BYTES,
    "an evidence manifest",
  );
  if ("problem" in read)
    throw new ConfigError(
      read.problem.startsWith("cannot be read")
        ? `${dir}: no ${MANIFEST_FILE}; not an evidence pack`
        : `${join(dir, MANIFEST_FILE)} ${read.problem}`,
    );
  const bytes = read.bytes;
  let manifest: EvidenceManifest;
  try {
    manifest = JSON.parse(bytes.toString("utf8")) as EvidenceManifest;
  } catch {
    throw new ConfigError(`${join(dir, MANIFEST_FILE)}: not valid JSON`);
  }
  if (manifest?.format !== MANIFEST_FORMAT || !Array.isArray(manifest.records))
    throw new ConfigError(`${join(dir, MANIFEST_FILE)}: not an ${MANIFEST_FORMAT} manifest`);
  return { bytes, manifest };
}

function spkiDer(key: KeyObject): Buffer {
  return key.export({ format: "der", type: "spki" });
}

/** Checks manifest.sig.json against the manifest's bytes and, when given, the auditor's pinned key. */
async function checkSignature(
  dir: string,
  manifestBytes: Buffer,
  pinned: KeyObject | undefined,
  result: PackVerification,
): Promise<void> {
  const read = await readFileBounded(join(dir, SIGNATURE_FILE), MAX_SMALL_FILE_BYTES, "a signature file");
  if ("problem" in read && !read.problem.startsWith("cannot be read")) {
    result.problems.push(`${SIGNATURE_FILE} ${read.problem}`);
    return;
  }
  const text = "bytes" in read ? read.bytes.toString("utf8") : undefined;
  if (text === undefined) {
    if (pinned)
      result.problems.push(`${SIGNATURE_FILE}: missing, but --public-key was given: the pack is not signed`);
    else
      result.warnings.push(
        "the pack is not signed (no manifest.sig.json): its files are only checked against each other",
      );
    return;
  }
  let signature: ManifestSignature;
  let embedded: KeyObject;
  try {
    signature = JSON.parse(text) as ManifestSignature;
    embedded = createPublicKey({
      key: Buffer.from(signature.publicKeySpkiB64, "base64"),
      format: "der",
      type: "spki",
    });
  } catch {
    result.problems.push(`${SIGNATURE_FILE}: not valid JSON with a DER public key (publicKeySpkiB64)`);
    return;
  }
  const embeddedSha256 = sha256Hex(spkiDer(embedded));
  const key = pinned ?? embedded;
  const keySha256 = sha256Hex(spkiDer(key));
  const problemsBefore = result.problems.length;
  if (signature.publicKeySha256 !== embeddedSha256)
    result.problems.push(`${SIGNATURE_FILE}: publicKeySha256 is not the SHA-256 of the public key it holds`);
  if (pinned && keySha256 !== embeddedSha256)
    result.problems.push(
      `${SIGNATURE_FILE}: signed with public key ${embeddedSha256}, not the --public-key given (${keySha256})`,
    );
  if (!schemeOf(signature.algorithm)) {
    result.problems.push(
      `${SIGNATURE_FILE}: unknown signing algorithm ${JSON.stringify(signature.algorithm)}`,
    );
  } else {
    if (signature.manifestDigest !== digestFor(signature.algorithm, manifestBytes).toString("hex"))
      result.problems.push(
        `${MANIFEST_FILE}: its digest differs from the one signed in ${SIGNATURE_FILE} (the manifest was changed)`,
      );
    if (
      !verifyKmsSignature(
        signature.algorithm,
        manifestBytes,
        key,
        Buffer.from(signature.signatureB64 ?? "", "base64"),
      )
    )
      result.problems.push(
        `${SIGNATURE_FILE}: the signature does not verify over ${MANIFEST_FILE} with public key ${keySha256}`,
      );
  }
  if (!pinned)
    result.warnings.push(
      `the signature was checked with the public key embedded in ${SIGNATURE_FILE} (SHA-256 ${embeddedSha256}); an auditor should pin the expected key with --public-key`,
    );
  result.signature = {
    status: result.problems.length === problemsBefore ? "verified" : "failed",
    keyArn: String(signature.keyArn),
    publicKeySha256: keySha256,
    pinned: pinned !== undefined,
  };
}

/** Every file under the pack, as `/`-separated paths relative to it. */
async function packFiles(dir: string, under = ""): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(join(dir, under), { withFileTypes: true })) {
    const path = under ? `${under}/${entry.name}` : entry.name;
    // Symbolic links are listed, not followed.
    if (entry.isDirectory()) files.push(...(await packFiles(dir, path)));
    else files.push(path);
  }
  return files;
}

async function checkEntry(dir: string, entry: ManifestEntry, result: PackVerification): Promise<void> {
  const who = `${entry.file} (${JSON.stringify(entry.sourceLabel ?? "")}, ${entry.region ?? "?"})`;
  const read = await readFileBounded(join(dir, entry.file), MAX_RECORD_BYTES, "an evidence record");
  if ("problem" in read) {
    result.problems.push(
      read.problem.startsWith("cannot be read")
        ? `${who}: listed in ${MANIFEST_FILE} but missing`
        : `${who}: ${read.problem}`,
    );
    return;
  }
  const bytes = read.bytes;
  if (sha256Hex(bytes) !== entry.sha256)
    result.problems.push(`${who}: SHA-256 differs from ${MANIFEST_FILE} (the file was changed)`);
  result.signaturesReverified += verifyRecordContent(bytes, entry, who, result.problems);
}

/**
 * Verifies a pack offline (no Redis, no KMS): the manifest's signature (with the pinned key when given), every
 * listed file present with its SHA-256, no unlisted file, every record's checks passed, and each record's KMS
 * signature check verified again with the source public key. Unusable input (no manifest, unreadable key):
 * ConfigError.
 */
export async function verifyEvidencePack(dir: string, publicKeyFile?: string): Promise<PackVerification> {
  const pinned = publicKeyFile ? await readPublicKeyFile(publicKeyFile) : undefined;
  const { bytes, manifest } = await readManifest(dir);
  const result: PackVerification = {
    problems: [],
    warnings: [],
    records: manifest.records.length,
    notMigrated: Array.isArray(manifest.notMigrated) ? manifest.notMigrated.length : 0,
    signaturesReverified: 0,
    signature: { status: "absent" },
  };
  await checkSignature(dir, bytes, pinned, result);

  const listed = new Set<string>();
  for (const entry of manifest.records) {
    if (typeof entry?.file !== "string" || !RECORD_FILE.test(entry.file)) {
      result.problems.push(
        `${MANIFEST_FILE}: lists ${JSON.stringify(entry?.file)}, not a records/<id>.json name`,
      );
      continue;
    }
    if (listed.has(entry.file)) result.problems.push(`${MANIFEST_FILE}: lists ${entry.file} twice`);
    listed.add(entry.file);
    await checkEntry(dir, entry, result);
  }
  for (const file of await packFiles(dir))
    if (file !== MANIFEST_FILE && file !== SIGNATURE_FILE && !listed.has(file))
      result.problems.push(`${file}: not listed in ${MANIFEST_FILE}`);
  const counts = manifest.counts;
  if (counts?.records !== manifest.records.length || counts?.notMigrated !== result.notMigrated)
    result.problems.push(`${MANIFEST_FILE}: counts disagree with the lists it holds`);
  return result;
}
