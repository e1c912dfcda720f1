import { randomBytes } from "node:crypto";
import type { Command } from "commander";
import type { AuditLine } from "../../assurance/audit.js";
import { type AuditSummary, type ManifestExpectations, manifestExpectations } from "../../assurance/audit.js";
import { auditSummaryLine, writeAudit } from "../../assurance/audit-run.js";
import { ManifestFileError, readManifest } from "../../manifest/read.js";
import { openManifestFile } from "../../manifest/source.js";
import { ConfigError } from "../../shared/errors.js";
import type { KmsPort } from "../../shared/kms/types.js";
import { EXIT } from "../exit-codes.js";
import { openOutFile } from "../out-file.js";
import { type CommonFlags, configFrom, openHsm, openRuntime, withCommonFlags } from "../runtime.js";

interface AuditFlags extends CommonFlags {
  out?: string;
  manifest?: string;
  json?: boolean;
}

/** What a manifest asks for, read as enqueue reads it; a file that cannot be used is a usage error. */
async function readExpectations(
  path: string,
  defaultRegion: string | undefined,
): Promise<ManifestExpectations> {
  const input = await openManifestFile(path, "the CSV the campaign was enqueued from");
  try {
    return await manifestExpectations(readManifest(input, { defaultRegion }));
  } catch (error) {
    if (error instanceof ManifestFileError) throw new ConfigError(`${path}: ${error.message}`);
    throw error;
  }
}

/** Audits every migrated key, writes the CSV (or, `keys`, collects the lines) and the summary line. */
export async function runAudit(flags: AuditFlags, keys?: AuditLine[]): Promise<AuditSummary> {
  const config = configFrom(flags);
  const manifest = flags.manifest ? await readExpectations(flags.manifest, config.region) : undefined;
  const file = flags.out ? await openOutFile(flags.out) : undefined;
  const runtime = await openRuntime(config, "audit").catch(async (error: unknown) => {
    await file?.close();
    throw error;
  });
  const { createKmsAdapter } = await import("../../shared/kms/index.js");
  const { accountPortCache } = await import("../../shared/kms/account-ports.js");
  // Each key is audited in its own account, through the role HSM2KMS_ACCOUNTS_FILE names for it.
  const kmsPorts = accountPortCache(config, createKmsAdapter);
  const kms = (region: string, account?: string): KmsPort => kmsPorts.portFor(region, account);
  let summary: AuditSummary;
  try {
    const hsm = await openHsm(config, runtime.logger);
    try {
      summary = await writeAudit({
        ledger: runtime.ledger,
        prefix: config.queuePrefix,
        ports: { hsm, kms, randomBytes },
        concurrency: config.hsmConcurrency,
        manifest,
        out: file?.stream ?? process.stdout,
        err: process.stderr,
        keys,
      });
    } finally {
      await hsm.close();
    }
  } finally {
    await file?.close();
    kmsPorts.close();
    await runtime.close();
  }
  process.stderr.write(auditSummaryLine(summary));
  return summary;
}

export function registerAuditCommand(program: Command): void {
  withCommonFlags(
    program
      .command("audit")
      .summary(
        "Prove, from an HSM host, that each migrated key in KMS is the HSM's key (trusting neither Redis nor the verify phase)",
      )
      .description(
        [
          "Compare every migrated key of the ledger in the HSM and in KMS directly, as SECURITY.md asks after a campaign: RSA and EC keys by KMS GetPublicKey against the public key read from the HSM now; HMAC keys by KMS GenerateMac against the HSM's HMAC of a fresh random message. AES keys are reported not comparable (KMS ciphertexts cannot be opened outside KMS). Only the ledger's pairing (which HSM key went to which KMS key) comes from Redis; two keys naming the same KMS key or the same HSM key in a Region are reported as duplicates. Orphans are listed too: live KMS keys tagged hsm2kms:campaign with this campaign that the ledger does not track (a late CreateKey from a host that lost its job; found through the Resource Groups Tagging API, tag:GetResources), which hsm2kms abandon --orphans --yes removes.",
          "Runs where the HSM is configured (HSM2KMS_PKCS11_LIB, token, PIN) with KMS read access (DescribeKey, GetPublicKey, GenerateMac: deploy/iam/kms-worker.json has them). Writes CSV (source_label, source_id, region, kms_key_id, key_spec, result, detail) to standard output or --out; each problem also goes to standard error, naming the key.",
          "Exit 0 when every key is migrated and identical (or not comparable), 1 when a key is a problem (mismatch, missing-in-hsm, missing-in-kms, kms-key-not-enabled, duplicate, not-in-ledger, orphan, error), a key is not migrated or the ledger holds no key at all (a wrong --prefix), 2 on a usage or configuration error.",
        ].join("\n\n"),
      )
      .option("--out <file>", "write the CSV to this file instead of standard output")
      .option(
        "--json",
        "print the summary as JSON on standard output (audited, notMigrated, problems, byResult); without --out it also holds one entry per key (keys) instead of the CSV",
      )
      .option(
        "--manifest <file>",
        "the manifest the campaign was enqueued from: every key it asks for (each replica Region too) must have a migration record; one missing, or a row enqueue would reject, is a not-in-ledger problem",
      ),
  ).action(async (flags: AuditFlags) => {
    const keys: AuditLine[] | undefined = flags.json && !flags.out ? [] : undefined;
    const summary = await runAudit(flags, keys);
    if (flags.json)
      process.stdout.write(`${JSON.stringify({ ...summary, ...(keys ? { keys } : {}) }, null, 2)}\n`);
    const empty = summary.audited + summary.notMigrated === 0;
    if (empty)
      process.stderr.write(
        `audit: the ledger under prefix "${configFrom(flags).queuePrefix}" holds no keys: nothing was proven (set --prefix or HSM2KMS_QUEUE_PREFIX to the campaign's)\n`,
      );
    process.exitCode = empty || summary.problems > 0 || summary.notMigrated > 0 ? EXIT.failed : EXIT.ok;
  });
}
