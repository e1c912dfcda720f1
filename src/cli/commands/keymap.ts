import type { Command } from "commander";
import { formatKeymap, isKeymapFormat, KEYMAP_FORMATS } from "../../lifecycle/keymap-formats.js";
import { redactUrl } from "../../shared/config.js";
import { ConfigError } from "../../shared/errors.js";
import type { KmsPort } from "../../shared/kms/types.js";
import { EXIT } from "../exit-codes.js";
import { openOutFile } from "../out-file.js";
import { type CommonFlags, configFrom, openRuntime, withCommonFlags } from "../runtime.js";

interface KeymapFlags extends CommonFlags {
  format: string;
  out?: string;
}

/** `hsm2kms keymap`: which KMS key replaces which HSM key, for applications and infrastructure code. */
export async function runKeymap(flags: KeymapFlags): Promise<number> {
  const format = flags.format;
  if (!isKeymapFormat(format))
    throw new ConfigError(
      `--format ${JSON.stringify(format)} is invalid: expected ${KEYMAP_FORMATS.join(", ")}`,
    );
  const config = configFrom(flags);
  // Loaded here, not at start-up: they bring the AWS SDK, which --version and --help never need.
  const { campaignKmsLookup, checkCampaign } = await import("../../campaign/marker.js");
  const { buildKeymap } = await import("../../lifecycle/keymap.js");
  const { createKmsAdapter } = await import("../../shared/kms/index.js");
  const file = flags.out ? await openOutFile(flags.out) : undefined;
  const runtime = await openRuntime(config, "keymap").catch(async (error: unknown) => {
    await file?.close();
    throw error;
  });
  const { accountPortCache } = await import("../../shared/kms/account-ports.js");
  const ports = accountPortCache(config, createKmsAdapter);
  const kms = (region: string, account?: string): KmsPort => ports.portFor(region, account);
  try {
    const campaign = await checkCampaign(runtime.ledger, {
      url: redactUrl(config.redisUrl),
      kms: campaignKmsLookup(config),
    });
    if (!campaign.ok) throw new Error(campaign.message);
    // Terraform adopts the keys with their tags as they are, or its first plan would remove them.
    const keymap = await buildKeymap(runtime.ledger.records(), { kms }, { withTags: format === "terraform" });
    const text = formatKeymap(keymap, format);
    if (file) await file.write(text);
    else process.stdout.write(text);
    for (const problem of keymap.problems) process.stderr.write(`keymap: ${problem}\n`);
    const replicas = keymap.keys.reduce((sum, entry) => sum + entry.replicas.length, 0);
    process.stderr.write(
      `keymap: ${keymap.keys.length} keys (${replicas} replicas) written; ${keymap.notMigrated} not migrated (left out), ${keymap.problems.length} problems\n`,
    );
    return keymap.notMigrated > 0 || keymap.problems.length > 0 ? EXIT.failed : EXIT.ok;
  } finally {
    await file?.close();
    ports.close();
    await runtime.close();
  }
}

export function registerKeymapCommand(program: Command): void {
  withCommonFlags(
    program
      .command("keymap")
      .summary("Write which KMS key replaces which HSM key (JSON, YAML, env lines or Terraform)")
      .description(
        [
          "For every migrated key of the campaign: the HSM key (CKA_LABEL and CKA_ID) and the KMS key that replaces it (key ID, ARN, alias, Region, key spec and usage, the signing, encryption, MAC or key agreement algorithms KMS allows with it, when its material expires); the replicas of a multi-Region key under their primary. Read only: the ledger in Redis, and KMS DescribeKey (and ListResourceTags for terraform) in each Region.",
          "Formats: json and yaml ({keys: [...]}); env (KMS_KEY_<NAME>_ARN='...' lines that bash can source, a replica's as KMS_KEY_<NAME>_<REGION>_ARN); terraform (import blocks and resources for aws_kms_external_key, aws_kms_replica_external_key and aws_kms_alias, without key material, so infrastructure teams adopt the keys without re-creating them; needs Terraform 1.5+ and the AWS provider 6.0+).",
          "Exit 0 when every key is migrated and usable, 1 when a key is not migrated (left out), KMS no longer holds it or it is not Enabled (named on standard error), or no campaign exists under the prefix; 2 on a usage or configuration error.",
        ].join("\n\n"),
      )
      .option("--format <format>", KEYMAP_FORMATS.join(", "), "json")
      .option("--out <file>", "write to this file instead of standard output"),
  ).action(async (flags: KeymapFlags) => {
    process.exitCode = await runKeymap(flags);
  });
}
