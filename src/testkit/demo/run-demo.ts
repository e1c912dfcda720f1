import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { formatManifestCsv } from "../../manifest/read.js";
import { startKmsEmulator } from "../kms-emulator/index.js";
import { initSandboxToken, SAMPLE_KEY_NAMES, SAMPLE_KEYS } from "../softhsm.js";

/** How long the demo's emulator may hide a change from other calls: the pipeline must wait it out. */
const SANDBOX_CONSISTENCY_DELAY_MS = 2000;

export interface SandboxDemoOptions {
  /** Where the token, manifest and report live. */
  dir: string;
  region: string;
  /** Redis key prefix of the demo (wiped at start: the emulator starts empty too). */
  prefix: string;
  logger: Logger;
  /** Runs the migration (enqueue + workers + report) against the environment the demo set up. */
  migrate: (manifestPath: string, reportPath: string) => Promise<void>;
  /** Deletes every Redis key under the prefix. */
  wipe: (prefix: string) => Promise<void>;
}

export interface SandboxDemoResult {
  manifestPath: string;
  reportPath: string;
  env: Record<string, string>;
}

/** The manifest of every sample key: default usage per key, an alias under alias/sandbox/. */
export function sandboxManifest(region: string): string {
  return formatManifestCsv(
    SAMPLE_KEY_NAMES.map((name) => {
      const key = SAMPLE_KEYS[name];
      return {
        source_label: key.label,
        source_id: key.idHex,
        key_usage: key.defaultUsage,
        alias: `alias/sandbox/${key.label}`,
        description: `hsm2kms sandbox: ${key.label}`,
        tags: "purpose=sandbox;owner=hsm2kms",
        region,
      };
    }),
  );
}

/**
 * The local rehearsal: a SoftHSM2 token with every importable key type (made once, reused), a fresh KMS
 * emulator with AWS's default quotas and eventual consistency (each new key, alias, import and replica unseen
 * for up to 2 s, as AWS warns it can be), then a real migration through Redis queues and workers. The
 * emulator accepts SoftHSM2's KWP zero padding, and says so in its log each time.
 */
export async function runSandboxDemo(options: SandboxDemoOptions): Promise<SandboxDemoResult> {
  const token = await initSandboxToken({ dir: options.dir });
  options.logger.info(
    { dir: options.dir, reused: token.reused, created: token.created.length },
    "sandbox token ready",
  );
  const emulator = await startKmsEmulator({
    acceptKwpZeroPadding: true,
    consistencyDelayMs: SANDBOX_CONSISTENCY_DELAY_MS,
    logger: options.logger.child({ component: "kms-emulator" }),
  });
  try {
    const env: Record<string, string> = {
      ...token.env,
      HSM2KMS_KMS_ENDPOINT: emulator.url,
      AWS_REGION: options.region,
      // The emulator checks no signature; never send real credentials to it.
      AWS_ACCESS_KEY_ID: "sandbox",
      AWS_SECRET_ACCESS_KEY: "sandbox",
      HSM2KMS_QUEUE_PREFIX: options.prefix,
      // The demo's Redis is whatever runs on this machine, often without persistence; losing a demo's
      // ledger costs nothing (the emulator forgets its keys too).
      HSM2KMS_ALLOW_VOLATILE_REDIS: "true",
    };
    Object.assign(process.env, env);
    delete process.env["AWS_SESSION_TOKEN"];
    delete process.env["AWS_PROFILE"];
    await options.wipe(options.prefix);
    const manifestPath = join(options.dir, "manifest.csv");
    const reportPath = join(options.dir, "report.csv");
    await writeFile(manifestPath, sandboxManifest(options.region));
    await options.migrate(manifestPath, reportPath);
    return { manifestPath, reportPath, env };
  } finally {
    await emulator.close();
  }
}
