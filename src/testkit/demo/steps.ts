import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DescribeKeyCommand,
  GetPublicKeyCommand,
} from "@aws-sdk/client-kms";
import type { AuditSummary } from "../../assurance/audit.js";
import { writeAudit } from "../../assurance/audit-run.js";
import {
  checkPackTarget,
  printVerification,
  verifyEvidencePack,
  writeCampaignPack,
} from "../../assurance/evidence/index.js";
import { printKeyTable } from "../../assurance/key-table.js";
import { writeReport } from "../../assurance/report.js";
import { enqueueManifest, enqueueSummaryLine } from "../../campaign/enqueue.js";
import { openOutFile } from "../../cli/out-file.js";
import type { Runtime } from "../../cli/runtime.js";
import { TOOL_VERSION } from "../../cli/runtime.js";
import { renewExpiringMaterial } from "../../lifecycle/renew.js";
import { formatProblem } from "../../manifest/read.js";
import { openManifestFile } from "../../manifest/source.js";
import type { Config } from "../../shared/config.js";
import type { HsmPort } from "../../shared/hsm/types.js";
import { createKmsAdapter, createKmsClient, kmsPortCache } from "../../shared/kms/index.js";
import { PHASES } from "../../shared/migration.js";
import { WorkerEvents } from "../../workers/events.js";
import { startFleet } from "../../workers/fleet.js";
import { phaseSettingsOf, retryLimitsOf } from "../../workers/settings.js";

/** What every step of the demo works with: the demo's own config, never the process environment. */
export interface DemoContext {
  config: Config & { region: string };
  /** The emulator's fake access key: explicit, so that no real credential is ever sent to it. */
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** Queues and ledger of the demo's prefix (a producer's connection). */
  runtime: Runtime;
  hsm: HsmPort;
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

/** The one key the sandbox makes unmigratable on purpose. */
export const EXPECTED_FAILURE = {
  label: "sample-ec-p256-nonextractable",
  code: "SOURCE_KEY_NOT_EXTRACTABLE",
};

const EVIDENCE_SIGNER = "alias/sandbox/evidence-signer";

/** Deletes every Redis key of the demo's prefix (its queues and its ledger): the emulator starts empty too. */
export async function wipeCampaign(runtime: Runtime, prefix: string): Promise<void> {
  for (const pattern of [`${prefix}:*`, `{${prefix}.ledger}:*`]) {
    let cursor = "0";
    do {
      const [next, keys] = await runtime.redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await runtime.redis.unlink(...keys);
    } while (cursor !== "0");
  }
}

/** `hsm2kms enqueue MANIFEST`, then the workers of every phase until the queues are empty. */
export async function migrate(
  context: DemoContext,
  manifestPath: string,
  connection: Runtime,
): Promise<void> {
  const { config, runtime } = context;
  const summary = await enqueueManifest(
    await openManifestFile(manifestPath, "a CSV file with a header row"),
    {
      defaultRegion: config.region,
      baseDir: join(manifestPath, ".."),
      ledger: runtime.ledger,
      queues: runtime.queues,
      onProblem: (problem) => context.err.write(`${manifestPath}: ${formatProblem(problem)}\n`),
    },
  );
  context.out.write(`${enqueueSummaryLine(summary, false)}\n`);
  const fleet = await startFleet({
    config,
    phases: [...PHASES],
    untilIdle: true,
    hsm: context.hsm,
    connection: connection.redis,
    logger: connection.logger,
    toolVersion: TOOL_VERSION,
    events: new WorkerEvents(connection.logger),
    outage: connection.outage,
    kmsCredentials: context.credentials,
  });
  await fleet.stopped;
  await fleet.close(30_000);
  const failure = fleet.failure();
  if (failure) throw failure;
}

/** The demo's one key with expiring material: migrated valid for an hour, then renewed for 90 days. */
export const EXPIRING_KEY = {
  label: "sample-ec-p256",
  firstValidForMs: 3_600_000,
  renewForMs: 90 * 86_400_000,
};

/**
 * `hsm2kms renew --before 2h --renew-for 90d`: the expiring key's same HSM key wrapped and imported again with a
 * later ValidTo (what the workers' scheduled renewal does ahead of expiry); prints its old and new ValidTo.
 * True when it was renewed.
 */
export async function renew(context: DemoContext): Promise<boolean> {
  const { config, runtime } = context;
  const ports = kmsPortCache((region) =>
    createKmsAdapter({ region, endpoint: config.kmsEndpoint, credentials: context.credentials }),
  );
  try {
    const lines = await renewExpiringMaterial(
      runtime.ledger,
      {
        hsm: () => context.hsm,
        kms: (region) => ports.portFor(region),
        lookup: async (id) => (await runtime.ledger.get(id))?.record,
        now: () => new Date(),
        randomBytes,
        logger: runtime.logger,
        settings: phaseSettingsOf(config, TOOL_VERSION),
      },
      retryLimitsOf(config),
      { beforeMs: 2 * 3_600_000, renewForMs: EXPIRING_KEY.renewForMs, dryRun: false },
      (line) =>
        context.out.write(
          `\nrenew: ${line.source} (${line.region}, KMS key ${line.keyId}): ValidTo ${line.validTo} -> ${line.newValidTo ?? "unchanged"}: ${line.result}: ${line.detail}\n`,
        ),
    );
    return lines.length === 1 && lines[0]?.result === "renewed";
  } finally {
    ports.close();
  }
}

/** Prints one line per key and writes the report; true when every key but the expected failure migrated. */
export async function reportOutcome(context: DemoContext, reportPath: string): Promise<boolean> {
  const { ledger } = context.runtime;
  context.out.write("\n");
  await printKeyTable(ledger, context.out);
  const file = createWriteStream(reportPath);
  await writeReport(ledger, "csv", file);
  await new Promise<void>((done) => file.end(() => done()));
  let migrated = 0;
  let unexpected = 0;
  for await (const record of ledger.records()) {
    const expectedFailure = record.source.label === EXPECTED_FAILURE.label;
    if (record.status === "migrated" && record.verified !== "false" && !expectedFailure) migrated++;
    else if (!(expectedFailure && record.status === "failed" && record.error?.code === EXPECTED_FAILURE.code))
      unexpected++;
  }
  context.out.write(
    `\n${migrated} keys migrated and verified; ${EXPECTED_FAILURE.label} refused at preflight as expected (${EXPECTED_FAILURE.code}); ${unexpected} unexpected outcomes.\nReport: ${reportPath}\n`,
  );
  return unexpected === 0;
}

/**
 * Runs `call` until KMS stops answering NotFoundException (at most a minute): the demo's emulator, like AWS
 * (AWS KMS Developer Guide, "AWS KMS eventual consistency"), shows a new key or alias only after a moment.
 * An operator's signing key is not brand new; the demo's is.
 */
async function onceVisible<T>(call: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      return await call();
    } catch (error) {
      if ((error as Error).name !== "NotFoundException" || Date.now() > deadline) throw error;
      await sleep(250);
    }
  }
}

/**
 * The auditor's step: a signing key in the emulator (an operator would name one of theirs), a signed evidence
 * pack in DIR/evidence, and its offline check against the signer's public key as an auditor would fetch it.
 */
export async function writeAndCheckEvidence(context: DemoContext, dir: string): Promise<boolean> {
  const { config, credentials } = context;
  const settings = { region: config.region, endpoint: config.kmsEndpoint, credentials };
  const client = createKmsClient(settings);
  const signerPort = createKmsAdapter(settings);
  try {
    const { KeyMetadata } = await client.send(
      new CreateKeyCommand({
        KeySpec: "ECC_NIST_P256",
        KeyUsage: "SIGN_VERIFY",
        Description: "hsm2kms sandbox: signs evidence packs",
      }),
    );
    const keyId = KeyMetadata?.KeyId ?? "";
    await onceVisible(() =>
      client.send(new CreateAliasCommand({ AliasName: EVIDENCE_SIGNER, TargetKeyId: keyId })),
    );
    const { PublicKey } = await onceVisible(() => client.send(new GetPublicKeyCommand({ KeyId: keyId })));
    await onceVisible(() => client.send(new DescribeKeyCommand({ KeyId: EVIDENCE_SIGNER })));
    const publicKeyPath = join(dir, "evidence-signer.der");
    await writeFile(publicKeyPath, PublicKey ?? new Uint8Array());
    const packDir = join(dir, "evidence");
    context.out.write("\n");
    await checkPackTarget(packDir, true);
    await writeCampaignPack({
      dir: packDir,
      force: true,
      ledger: context.runtime.ledger,
      campaign: config.queuePrefix,
      toolVersion: TOOL_VERSION,
      signer: { kms: signerPort, keyId: EVIDENCE_SIGNER },
      operatorLookup: settings,
      out: context.out,
      err: context.err,
    });
    const result = await verifyEvidencePack(packDir, publicKeyPath);
    printVerification(packDir, result);
    return result.problems.length === 0 && result.signature.status === "verified";
  } finally {
    signerPort.close();
    client.destroy();
  }
}

/** `hsm2kms audit --out DIR/audit.csv`: every KMS key against the HSM, trusting neither Redis nor verify. */
export async function audit(context: DemoContext, auditPath: string): Promise<AuditSummary> {
  const { config } = context;
  const file = await openOutFile(auditPath);
  // The demo's keys are all in its one Region.
  const kms = createKmsAdapter({
    region: config.region,
    endpoint: config.kmsEndpoint,
    credentials: context.credentials,
  });
  try {
    return await writeAudit({
      ledger: context.runtime.ledger,
      prefix: config.queuePrefix,
      ports: { hsm: context.hsm, kms: () => kms, randomBytes },
      concurrency: config.hsmConcurrency,
      out: file.stream,
      err: context.err,
    });
  } finally {
    await file.close();
    kms.close();
  }
}
