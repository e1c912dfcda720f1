import type { KmsPort } from "../../shared/kms/types.js";
import type { Ledger } from "../../shared/ledger/index.js";
import { lookUpOperator, type OperatorLookupSettings } from "./operator.js";
import { kmsPackSigner } from "./signer.js";
import { writeEvidencePack } from "./write-pack.js";

export interface CampaignPackOptions {
  /** The pack's folder (checked with checkPackTarget first). */
  dir: string;
  /** Replace an existing pack in `dir`. */
  force: boolean;
  /** The campaign's ledger: every record goes into the pack. */
  ledger: Ledger;
  /** The campaign (its queue prefix), as the pack names it. */
  campaign: string;
  toolVersion: string;
  /** The KMS key that signs the pack, and the port that reaches it; unsigned without. */
  signer?: { kms: KmsPort; keyId: string } | undefined;
  /** Where to ask STS who the operator is. */
  operatorLookup: OperatorLookupSettings;
  /** The summary line. */
  out: NodeJS.WritableStream;
  /** What is missing (no operator identity, keys not migrated). */
  err: NodeJS.WritableStream;
}

/**
 * `hsm2kms evidence`: the campaign's evidence pack, signed when a signer is given, with the lines the command
 * prints. Returns how many keys of the ledger are not migrated (they are listed, with no record).
 */
export async function writeCampaignPack(options: CampaignPackOptions): Promise<{ notMigrated: number }> {
  const { out, err } = options;
  // The signing key is checked before anything is written: a wrong key is a usage error, not a half pack.
  const signer = options.signer ? await kmsPackSigner(options.signer.kms, options.signer.keyId) : undefined;
  const operator = await lookUpOperator(options.operatorLookup);
  if (operator.source === "unavailable")
    err.write(
      `hsm2kms evidence: no AWS caller identity (${operator.reason}); recording the local user ${operator.localUser} only\n`,
    );
  const { manifest, signature } = await writeEvidencePack({
    dir: options.dir,
    force: options.force,
    records: options.ledger.records(),
    operator,
    campaign: options.campaign,
    toolVersion: options.toolVersion,
    signer,
  });
  const { keys, records, notMigrated } = manifest.counts;
  if (notMigrated > 0) {
    err.write(
      `hsm2kms evidence: ${notMigrated} of ${keys} keys are not migrated and have no record (listed in manifest.json with status and error):\n`,
    );
    for (const entry of manifest.notMigrated.slice(0, 20))
      err.write(
        `  ${entry.sourceLabel ?? entry.sourceIdHex ?? entry.migrationId} (${entry.account ? `account ${entry.account}, ` : ""}${entry.region}): ${entry.status}${entry.error ? `, ${entry.error.code}` : ""}\n`,
      );
    if (notMigrated > 20) err.write(`  ... and ${notMigrated - 20} more\n`);
  }
  out.write(
    `evidence pack ${options.dir}: ${records} records, ${notMigrated} ${notMigrated === 1 ? "key" : "keys"} without a record, ${
      signature
        ? `signed with ${signature.keyArn} (${signature.algorithm}, public key SHA-256 ${signature.publicKeySha256})`
        : "not signed (no --sign-with)"
    }\n`,
  );
  return { notMigrated };
}
