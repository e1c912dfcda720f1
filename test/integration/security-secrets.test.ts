import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatManifestCsv } from "../../src/manifest/read.js";
import { Ledger, ledgerHashTag } from "../../src/shared/ledger/index.js";
import { generateKey } from "../../src/testkit/sample-key-generation.js";
import type { SampleKey } from "../../src/testkit/sample-keys.js";
import { initSandboxToken } from "../../src/testkit/softhsm.js";
import { Figures } from "../helpers/chaos/figures.js";
import { addToFigures, checkInvariants } from "../helpers/chaos/invariants.js";
import { createKnownKeys, type KnownKey } from "../helpers/chaos/known-keys.js";
import { dumpKeyspace } from "../helpers/chaos/redis-dump.js";
import { byteSecretForms, findSecrets, type SecretForm, textSecretForms } from "../helpers/chaos/secrets.js";
import type { WorkerProcesses } from "../helpers/chaos/worker-processes.js";
import { runCli } from "../helpers/cli.js";
import { withWorkerProcesses } from "../helpers/fixtures.js";
import { cliEnvironment } from "../helpers/fleet.js";
import { type KmsEmulator, startKmsEmulator } from "../helpers/kms-emulator.js";
import { randomPrefix, TEST_REDIS_URL, wipeCampaign } from "../helpers/redis.js";
import { listTokenObjects, withTokenSession } from "../helpers/softhsm.js";

const PIN = `Known-PIN-${randomBytes(6).toString("hex")}`;
const TOKEN_TTL_MS = 2500;
const figures = new Figures("secrets: PIN, key material, import tokens, wrapped material");
const prefix = randomPrefix("secrets");
let dir: string;
let tokenEnv: Record<string, string>;
let known: KnownKey[];
let objectsBefore: number;
let emulator: KmsEmulator | undefined;
const issuedTokens: Buffer[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "hsm2kms-secrets-"));
  const token = await initSandboxToken({ dir, label: `secrets-${dir.slice(-6)}`, pin: PIN, keys: [] });
  tokenEnv = { ...token.env };
  known = await createKnownKeys(tokenEnv, "sec");
  const refused: SampleKey = {
    label: "sec-not-extractable",
    idHex: "c0ffee05",
    keySpec: "ECC_NIST_P256",
    defaultUsage: "SIGN_VERIFY",
    kind: { type: "ec", curveOidDerHex: "06082a8648ce3d030107" },
    extractable: false,
  };
  await withTokenSession(tokenEnv, (pkcs11, session) => generateKey(pkcs11, session, refused));
  objectsBefore = (await listTokenObjects(tokenEnv)).length;
});

afterAll(async () => {
  figures.print();
  await emulator?.close();
  await wipeCampaign(prefix);
  if (dir) await rm(dir, { recursive: true, force: true });
});

/**
 * The /metrics page of a live worker. Its port comes from the worker's own "serving /metrics" line: a worker
 * restarted moments ago listens only once it has logged in to the token, and a port picked before it started
 * could be taken by another process meanwhile (both made this fetch fail under load).
 */
async function metricsText(workers: WorkerProcesses): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${await workers.metricsPort()}/metrics`);
  return `${response.status}\n${await response.text()}`;
}

describe("no secret leaves the HSM, KMS or its moment in the ledger", () => {
  it("a migration with retries, a killed worker and an expired token: the PIN, key material and import tokens appear in no log, report, metric or Redis key", async () => {
    let delayedImport = false;
    emulator = await startKmsEmulator({
      quotas: false,
      acceptKwpZeroPadding: true,
      tokenTtlMs: TOKEN_TTL_MS,
      faultRate: 0.1,
      onImportTokenIssued: (importToken) => issuedTokens.push(importToken),
      beforeOperation: async ({ operation }) => {
        // The first import waits inside KMS until its token is dead: the refresh path logs too.
        if (operation !== "ImportKeyMaterial" || delayedImport) return;
        delayedImport = true;
        await sleep(TOKEN_TTL_MS + 200);
      },
    });
    const env = cliEnvironment(tokenEnv, emulator.url, prefix, {
      HSM2KMS_LOG_LEVEL: "debug",
      HSM2KMS_JOB_LOCK: "3s",
      HSM2KMS_TOKEN_SAFETY_MARGIN: "0s",
      HSM2KMS_METRICS_HOST: "127.0.0.1",
      // The OS picks a free port as each worker binds; metricsText reads it from the worker's log.
      HSM2KMS_METRICS_PORT: "0",
    });
    const texts: Array<{ where: string; text: string }> = [];
    const keep = (where: string, text: string) => texts.push({ where, text });

    const manifest = join(dir, "manifest.csv");
    await writeFile(
      manifest,
      formatManifestCsv(
        [...known, { label: "sec-not-extractable", idHex: "c0ffee05" }].map((key) => ({
          source_label: key.label,
          source_id: key.idHex,
        })),
      ),
    );
    keep("config (PIN file)", (await runCli(["config"], env)).output);
    const { HSM2KMS_PKCS11_PIN_FILE: _file, ...withoutFile } = env;
    keep(
      "config (PIN inline)",
      (await runCli(["config"], { ...withoutFile, HSM2KMS_PKCS11_PIN: PIN })).output,
    );
    keep("enqueue", (await runCli(["enqueue", manifest], env)).output);

    // Sample the ledger while it runs: what it holds in flight must be gone at the end.
    const inFlight = new Set<string>();
    const redis = new Redis(TEST_REDIS_URL);
    const ledger = new Ledger(redis, prefix);
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        for await (const record of ledger.records()) {
          if (record.wrappedMaterialB64) inFlight.add(record.wrappedMaterialB64);
          if (record.importParams) inFlight.add(record.importParams.importTokenB64);
        }
        await sleep(20);
      }
    })();

    const finished = async () => {
      const counts = await ledger.counts();
      return (counts.byStatus["migrated"] ?? 0) + (counts.byStatus["failed"] ?? 0);
    };
    try {
      // Both workers are SIGKILLed when the test fails: none outlives it.
      await withWorkerProcesses(env, (workerA) =>
        withWorkerProcesses(env, async (workerB) => {
          workerA.start(1);
          workerB.start(1);
          const deadline = Date.now() + 90_000;
          while (Date.now() < deadline && (await finished()) < 2) await sleep(50);
          await workerB.killAll();
          figures.fault("sigkill:one-worker");
          workerB.start(1);
          while (Date.now() < deadline && (await finished()) < known.length + 1) await sleep(100);
          await sleep(500);
          keep("metrics worker A", await metricsText(workerA));
          keep("metrics worker B", await metricsText(workerB));
          await workerA.stop();
          await workerB.stop();
          keep("worker A stdout+stderr", workerA.output());
          keep("worker B stdout+stderr (killed, then restarted)", workerB.output());
        }),
      );
    } finally {
      sampling = false;
      await sampler;
      redis.disconnect();
    }

    keep("report csv", (await runCli(["report"], env)).output);
    keep("report json", (await runCli(["report", "--format", "json"], env)).output);
    keep("status json", (await runCli(["status", "--json"], env)).output);
    const reportFile = join(dir, "report.json");
    await runCli(["report", "--format", "json", "--out", reportFile], env);
    keep("report file", await readFile(reportFile, "utf8"));
    const keyspace = await dumpKeyspace(TEST_REDIS_URL, [prefix, ledgerHashTag(prefix)]);
    texts.push(...keyspace);

    // The search must have had something to search.
    expect(issuedTokens.length).toBeGreaterThanOrEqual(known.length + 1);
    expect(inFlight.size).toBeGreaterThan(0);
    expect(texts.find((entry) => entry.where === "worker A stdout+stderr")?.text).toContain('"level":20');
    expect(texts.find((entry) => entry.where === "config (PIN inline)")?.text).toContain("[redacted]");
    expect(keyspace.some((entry) => entry.text.includes(known[0]?.label ?? "?"))).toBe(true);

    const forms: SecretForm[] = [
      ...textSecretForms("the PIN", PIN),
      ...known.flatMap((key) => key.forms),
      ...issuedTokens.flatMap((importToken, n) => byteSecretForms(`import token ${n + 1}`, importToken)),
    ];
    // Positive controls: the search finds a token where one is (the ledger in flight), and a scalar inside
    // the base64 of the PKCS#8 that holds it (any alignment).
    const tokenForms = forms.filter((form) => form.secret.startsWith("import token"));
    expect(findSecrets([{ where: "in flight", text: [...inFlight].join("\n") }], tokenForms)).not.toEqual([]);
    const ecForms = known[0]?.forms ?? [];
    const pkcs8Base64 = ecForms.find((form) => form.secret === "EC P-256 PKCS#8" && form.form === "base64");
    const scalarForms = ecForms.filter((form) => form.secret === "EC P-256 private scalar");
    expect(findSecrets([{ where: "pkcs8", text: pkcs8Base64?.text ?? "" }], scalarForms)).not.toEqual([]);

    const findings = findSecrets(texts, forms);
    const leftInRedis = findSecrets(
      keyspace,
      [...inFlight].map((text) => ({ secret: "in-flight token or wrapped material", form: "base64", text })),
    );
    figures.secretOccurrences += findings.length + leftInRedis.length;
    figures.fault("kms:5xx", emulator.stats().total.faults);
    figures.notes.push(
      `searched ${texts.length} texts (${Math.round(texts.reduce((sum, entry) => sum + entry.text.length, 0) / 1024)} KiB) for ${forms.length} forms of ${new Set(forms.map((form) => form.secret)).size} secrets; ${inFlight.size} in-flight values sampled`,
    );
    expect(findings).toEqual([]);
    expect(leftInRedis).toEqual([]);
    for (const entry of keyspace) {
      expect(entry.text).not.toContain("wrappedMaterialB64");
      expect(entry.text).not.toContain("importTokenB64");
    }
    // Job data holds ids only: a phase job the migration id and generation; the scheduled renewal's sweep
    // nothing, a renewal job the migration id.
    for (const entry of keyspace.filter((candidate) => candidate.where.startsWith("redis hash"))) {
      const data = (JSON.parse(entry.text.slice(entry.text.indexOf("\n") + 1)) as Record<string, string>)[
        "data"
      ];
      if (!data) continue;
      const fields = Object.keys(JSON.parse(data) as object).sort();
      if (/:\{renew(-[a-z0-9-]+)?\}:/.test(entry.where))
        expect(["migrationId"]).toEqual(expect.arrayContaining(fields));
      else expect(fields).toEqual(["generation", "migrationId"]);
    }

    const report = await checkInvariants({
      prefix,
      emulatorUrl: emulator.url,
      tokenEnv,
      hsmObjectsBefore: objectsBefore,
      expectedKeys: known.length + 1,
      allowedFailures: ["SOURCE_KEY_NOT_EXTRACTABLE"],
    });
    figures.trials++;
    addToFigures(figures, report);
    expect(report.problems).toEqual([]);
    expect(report.migrated).toBe(known.length);
    expect(report.records.some((record) => record.tokenRefreshes > 0)).toBe(true);
  }, 150_000);
});
