import type { Command } from "commander";
import {
  checkPackTarget,
  printVerification,
  regionOfKeyArn,
  verifyEvidencePack,
  writeCampaignPack,
} from "../../assurance/evidence/index.js";
import { requireRegion } from "../../shared/config.js";
import { ConfigError } from "../../shared/errors.js";
import { EXIT } from "../exit-codes.js";
import { type CommonFlags, configFrom, openRuntime, TOOL_VERSION, withCommonFlags } from "../runtime.js";

interface EvidenceFlags extends CommonFlags {
  out?: string;
  signWith?: string;
  force?: boolean;
}

/** Writes the pack; exit 1 when some keys of the ledger are not migrated (they are listed, with no record). */
export async function runEvidence(flags: EvidenceFlags): Promise<number> {
  if (!flags.out) throw new ConfigError("--out DIR is required: the folder to write the evidence pack to");
  const config = configFrom(flags);
  const force = flags.force ?? false;
  await checkPackTarget(flags.out, force);
  const signingRegion = flags.signWith
    ? (regionOfKeyArn(flags.signWith) ?? requireRegion(config))
    : undefined;
  const runtime = await openRuntime(config, "evidence");
  const { createKmsAdapter } = await import("../../shared/kms/index.js");
  const kms = signingRegion
    ? createKmsAdapter({ region: signingRegion, endpoint: config.kmsEndpoint })
    : undefined;
  try {
    const { notMigrated } = await writeCampaignPack({
      dir: flags.out,
      force,
      ledger: runtime.ledger,
      campaign: config.queuePrefix,
      toolVersion: TOOL_VERSION,
      signer: kms && flags.signWith ? { kms, keyId: flags.signWith } : undefined,
      // With HSM2KMS_KMS_ENDPOINT set, STS is asked at that endpoint too (the sandbox emulator answers it).
      operatorLookup: { region: signingRegion ?? config.region, endpoint: config.kmsEndpoint },
      out: process.stdout,
      err: process.stderr,
    });
    return notMigrated > 0 ? EXIT.failed : EXIT.ok;
  } finally {
    kms?.close();
    await runtime.close();
  }
}

export function registerEvidenceCommand(program: Command): void {
  const evidence = withCommonFlags(
    program
      .command("evidence")
      .summary(
        "Write a signed evidence pack for auditors (one record per migrated key, a manifest with SHA-256s); `evidence verify DIR` checks one offline",
      )
      .description(
        [
          "Write a signed evidence pack for auditors: per migrated key, records/<migration id>.json (source label, id, SHA-256 of the HSM public key; KMS key ARN, Region, key spec and usage; wrapping algorithm; the verification checks with message, signature and result; timestamps; the operator from STS GetCallerIdentity and the local user), and manifest.json listing every record with its SHA-256 (keys not migrated are listed with their error, without a record).",
          "--sign-with KEY signs manifest.json's exact bytes with a KMS asymmetric SIGN_VERIFY key (ECDSA for ECC keys, RSASSA-PSS SHA-256 for RSA; Sign with MessageType DIGEST) into manifest.sig.json, with the key's public key. With HSM2KMS_KMS_ENDPOINT set, STS is asked at that endpoint too. The pack appears only when complete; nothing secret goes into it.",
          "Check a pack offline with `hsm2kms evidence verify DIR --public-key signer.pem`. Exit 1 if any key is not migrated.",
        ].join("\n\n"),
      )
      .option("--out <dir>", "folder to write the pack to (new or empty)")
      .option(
        "--sign-with <key>",
        "KMS key id, ARN or alias of an asymmetric SIGN_VERIFY key to sign the manifest with",
      )
      .option("--force", "replace a non-empty --out folder"),
  ).action(async (flags: EvidenceFlags) => {
    process.exitCode = await runEvidence(flags);
  });

  evidence
    .command("verify")
    .argument("<dir>", "the evidence pack folder")
    .description(
      [
        "Check an evidence pack offline (no Redis, no KMS): every listed file exists with its SHA-256, no file is unlisted, every record's checks passed, each record's KMS signature verifies again with the HSM public key, and manifest.sig.json verifies over manifest.json.",
        "Pin the signer with --public-key FILE (PEM or DER, e.g. from `aws kms get-public-key`): the signature must then be by that key. Without it the key embedded in the pack is used and its fingerprint printed: a forger could embed their own.",
        "Exit 0 when all is good, 1 with one line per problem, 2 when the folder or key cannot be used.",
      ].join("\n\n"),
    )
    .option("--public-key <file>", "the signing key's public key (PEM or DER) the signature must verify with")
    .action(async (dir: string, flags: { publicKey?: string }) => {
      const result = await verifyEvidencePack(dir, flags.publicKey);
      printVerification(dir, result);
      process.exitCode = result.problems.length === 0 ? EXIT.ok : EXIT.failed;
    });
}
