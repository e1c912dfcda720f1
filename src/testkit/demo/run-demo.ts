import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { auditSummaryLine } from "../../assurance/audit-run.js";
import { openHsm, openRuntime } from "../../cli/runtime.js";
import { formatManifestCsv } from "../../manifest/read.js";
import { loadConfig } from "../../shared/config.js";
import type { HsmPort } from "../../shared/hsm/types.js";
import { createLogger } from "../../shared/logger.js";
import { startKmsEmulator } from "../kms-emulator/index.js";
import { initSandboxToken, SAMPLE_KEY_NAMES, SAMPLE_KEYS } from "../softhsm.js";
import {
  audit,
  type DemoContext,
  EXPIRING_KEY,
  migrate,
  renew,
  reportOutcome,
  wipeCampaign,
  writeAndCheckEvidence,
} from "./steps.js";

/** How long the demo's emulator may hide a change from other calls: the pipeline must wait it out. */
const SANDBOX_CONSISTENCY_DELAY_MS = 2000;

/** The emulator's fake access key (`hsm2kms kms-emulator` accepts it); never a real one. */
const SANDBOX_CREDENTIALS = { accessKeyId: "sandbox", secretAccessKey: "sandbox" };

export interface DemoOptions {
  /** Where the token, manifest, report, evidence pack and audit go. */
  dir: string;
  region: string;
  /** Redis key prefix of the demo (wiped at start: the emulator starts empty too). */
  prefix: string;
  /**
   * The environment the demo's own settings are laid over (REDIS_URL, HSM2KMS_LOG_LEVEL, ...): read once,
   * here, into the demo's config; nothing is written back to the process environment.
   */
  env: Record<string, string | undefined>;
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

export interface DemoResult {
  /** Every key migrated and verified but the deliberately non-extractable one, the pack verified, the audit clean. */
  ok: boolean;
  manifestPath: string;
  reportPath: string;
  /** The settings that point hsm2kms at the sandbox token and the demo's emulator. */
  env: Record<string, string>;
}

/**
 * The manifest of every sample key: default usage per key, an alias under alias/sandbox/; the EC P-256 key's
 * material expires an hour after `now` (KEY_MATERIAL_EXPIRES), for the demo's renewal.
 */
export function sandboxManifest(region: string, now = new Date()): string {
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
        expires_at:
          key.label === EXPIRING_KEY.label
            ? new Date(now.getTime() + EXPIRING_KEY.firstValidForMs).toISOString()
            : "",
      };
    }),
  );
}

/**
 * `hsm2kms sandbox demo`, the local rehearsal: a SoftHSM2 token with every importable key type (made once,
 * reused), a fresh KMS emulator with AWS's default quotas and eventual consistency (each new key, alias,
 * import and replica unseen for up to 2 s, as AWS warns it can be), then a real migration through Redis
 * queues and workers (enqueue, the fleet), the renewal of the one key whose material expires, the report, a
 * signed evidence pack checked offline, and the audit.
 * The emulator accepts SoftHSM2's KWP zero padding, and says so in its log each time.
 */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const level = options.env["HSM2KMS_LOG_LEVEL"] ?? "warn";
  const logger = createLogger({ level, base: { component: "sandbox" } });
  const token = await initSandboxToken({ dir: options.dir });
  logger.info(
    { dir: options.dir, reused: token.reused, created: token.created.length },
    "sandbox token ready",
  );
  const emulator = await startKmsEmulator({
    acceptKwpZeroPadding: true,
    consistencyDelayMs: SANDBOX_CONSISTENCY_DELAY_MS,
    logger: logger.child({ component: "kms-emulator" }),
  });
  try {
    const env: Record<string, string> = {
      ...token.env,
      HSM2KMS_KMS_ENDPOINT: emulator.url,
      AWS_REGION: options.region,
      AWS_ACCESS_KEY_ID: SANDBOX_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: SANDBOX_CREDENTIALS.secretAccessKey,
      HSM2KMS_QUEUE_PREFIX: options.prefix,
      // The demo's Redis is whatever runs on this machine, often without persistence; losing a demo's
      // ledger costs nothing (the emulator forgets its keys too).
      HSM2KMS_ALLOW_VOLATILE_REDIS: "true",
    };
    // SoftHSM2 reads SOFTHSM2_CONF from the process environment: initSandboxToken has set it.
    const config = {
      ...loadConfig({ ...options.env, HSM2KMS_LOG_LEVEL: level, ...env }),
      region: options.region,
    };
    const manifestPath = join(options.dir, "manifest.csv");
    const reportPath = join(options.dir, "report.csv");
    const runtime = await openRuntime(config, "producer", { checkDurability: true });
    let hsm: HsmPort | undefined;
    try {
      await wipeCampaign(runtime, options.prefix);
      await writeFile(manifestPath, sandboxManifest(options.region));
      hsm = await openHsm(config, runtime.logger);
      const context: DemoContext = {
        config,
        credentials: SANDBOX_CREDENTIALS,
        runtime,
        hsm,
        out: options.out,
        err: options.err,
      };
      // The workers' own connection: BullMQ blocks on it.
      const workers = await openRuntime(config, "worker", { checkDurability: true, longRunning: true });
      try {
        await migrate(context, manifestPath, workers);
      } finally {
        await workers.close();
      }
      // Keys imported with expires_at lose their material at ValidTo: the demo's one is renewed at once.
      const renewed = await renew(context);
      let ok = (await reportOutcome(context, reportPath)) && renewed;
      if (ok) {
        const evidenceOk = await writeAndCheckEvidence(context, options.dir);
        // The check SECURITY.md asks for after a campaign: each KMS key against the HSM, trusting neither
        // Redis nor verify.
        options.out.write("\n");
        const summary = await audit(context, join(options.dir, "audit.csv"));
        options.err.write(auditSummaryLine(summary));
        ok = evidenceOk && summary.problems === 0;
      }
      return { ok, manifestPath, reportPath, env };
    } finally {
      await hsm?.close();
      await runtime.close();
    }
  } finally {
    await emulator.close();
  }
}

/** What the demo prints last: how to use the sandbox token with an emulator of one's own. */
export function sandboxUsage(result: DemoResult, region: string): string {
  const exports = Object.entries(result.env)
    .filter(([name]) => !name.startsWith("AWS_") && name !== "HSM2KMS_KMS_ENDPOINT")
    .map(([name, value]) => `  export ${name}=${value}`)
    .join("\n");
  return `\nTo work with the sandbox token yourself (start an emulator with \`hsm2kms kms-emulator --port 4599 --accept-kwp-zero-padding\`):\n${exports}\n  export HSM2KMS_KMS_ENDPOINT=http://127.0.0.1:4599 AWS_REGION=${region} AWS_ACCESS_KEY_ID=sandbox AWS_SECRET_ACCESS_KEY=sandbox\n`;
}
