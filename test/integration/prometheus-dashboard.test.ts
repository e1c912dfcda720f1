import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatManifestCsv } from "../../src/manifest/read.js";
import { SAMPLE_KEYS, type SampleKeyName } from "../../src/testkit/sample-keys.js";
import { type CliProcess, runCli, spawnCli } from "../helpers/cli.js";
import { cliEnvironment, waitFor } from "../helpers/fleet.js";
import { type KmsEmulator, startKmsEmulator } from "../helpers/kms-emulator.js";
import { freePort } from "../helpers/ports.js";
import {
  DEPLOY,
  dashboardQueries,
  dashboardVariables,
  type PromSample,
  type RunningPrometheus,
  readDashboard,
  startPrometheus,
  substitute,
} from "../helpers/prometheus.js";
import { randomPrefix, wipeCampaign } from "../helpers/redis.js";
import { createTestToken, type TestToken } from "../helpers/softhsm.js";

// Fast key types, and the sandbox's non-extractable key so that a failure (and its reason) shows.
const KEYS: SampleKeyName[] = [
  "sample-ec-p256",
  "sample-hmac-256",
  "sample-aes-256",
  "sample-ec-p256-nonextractable",
];
const REGION = "us-east-1";
/** The P-256 key's ValidTo: 30 days on, beyond HSM2KMS_RENEW_BEFORE (no renewal) and the alert's 7 days. */
const EXPIRES_AT = new Date(Date.now() + 30 * 86_400_000);

let token: TestToken | undefined;
let emulator: KmsEmulator | undefined;
let prometheus: RunningPrometheus | undefined;
const processes: CliProcess[] = [];
const prefix = randomPrefix("prom");
let workerAddress = "";
let statusAddress = "";

async function stop(cli: CliProcess): Promise<void> {
  if (cli.child.exitCode !== null || cli.child.signalCode !== null) return;
  cli.child.kill("SIGTERM");
  const timer = setTimeout(() => cli.child.kill("SIGKILL"), 10_000);
  await cli.exited;
  clearTimeout(timer);
}

async function value(expr: string): Promise<number | undefined> {
  return (await prometheus!.query(expr))[0]?.value;
}

beforeAll(async () => {
  token = await createTestToken({ keys: KEYS });
  emulator = await startKmsEmulator({ acceptKwpZeroPadding: true, quotas: false });
  const [workerPort, statusPort] = [await freePort(), await freePort()];
  workerAddress = `127.0.0.1:${workerPort}`;
  statusAddress = `127.0.0.1:${statusPort}`;
  prometheus = await startPrometheus(
    [
      { job: "hsm2kms-workers", targets: [workerAddress] },
      { job: "hsm2kms-status", targets: [statusAddress] },
    ],
    [join(DEPLOY, "prometheus/alerts.yml")],
  );
  const env = cliEnvironment(token.env, emulator.url, prefix, { HSM2KMS_METRICS_HOST: "127.0.0.1" });
  processes.push(spawnCli(["status", "--metrics-port", String(statusPort)], env));
  processes.push(spawnCli(["worker"], { ...env, HSM2KMS_METRICS_PORT: String(workerPort) }));
  // Both scraped before any work, so counters are seen rising from nothing and rates are real.
  await waitFor(
    async () => (await value('sum(up{job=~"hsm2kms-workers|hsm2kms-status"})')) === 2,
    30_000,
    `Prometheus scraping the worker and the status exporter\n${processes.map((p) => p.output()).join("\n")}`,
  );

  // The status exporter's series exist at 0 before anything is enqueued (AWS_REGION is the default Region):
  // a failure then shows as a rise, which delta() and Hsm2kmsFailureRatioHigh can see.
  await waitFor(
    async () => (await value(`hsm2kms_fleet_keys{status="failed",region="${REGION}"}`)) === 0,
    30_000,
    `the status exporter's failed-keys gauge at 0 before the enqueue\n${processes.map((p) => p.output()).join("\n")}`,
  );

  const manifest = join(token.dir, "manifest.csv");
  await writeFile(
    manifest,
    formatManifestCsv(
      KEYS.map((name) => ({
        source_label: SAMPLE_KEYS[name].label,
        source_id: SAMPLE_KEYS[name].idHex,
        region: REGION,
        // One key's material expires, for the expiring-material panels.
        expires_at: name === "sample-ec-p256" ? EXPIRES_AT.toISOString() : "",
      })),
    ),
  );
  const enqueued = await runCli(["enqueue", manifest], env);
  expect(enqueued.code, enqueued.output).toBe(0);
  await waitFor(
    async () =>
      (await value(`sum(hsm2kms_fleet_keys{status=~"migrated|failed",region="${REGION}"})`)) ===
        KEYS.length && (await value('sum(hsm2kms_keys_total{job="hsm2kms-workers"})')) === KEYS.length,
    40_000,
    `the migration, as Prometheus sees it\n${processes.map((p) => p.output()).join("\n")}`,
  );
  // Two more scrapes of the settled state.
  await new Promise((resolve) => setTimeout(resolve, 2500));
});

afterAll(async () => {
  await Promise.all(processes.map(stop));
  await prometheus?.close();
  await emulator?.close();
  await token?.cleanup();
  await wipeCampaign(prefix);
});

describe("the Grafana dashboard against a real Prometheus scraping a migration", () => {
  const dashboard = readDashboard();
  const queries = dashboardQueries(dashboard);
  // Grafana's variables: all values (`.*`), then the concrete Region and worker of this run.
  // This run migrates into the caller's own account only: its series carry no account label, which ".*"
  // (Grafana's All) matches.
  const all = { campaign: ".*", region: ".*", account: ".*", job: "hsm2kms-workers.*", instance: ".*" };
  // The worker's address is known once beforeAll ran.
  const chosen = () => ({
    campaign: prefix,
    region: REGION,
    account: ".*",
    job: "hsm2kms-workers",
    instance: workerAddress,
  });
  const substitutions = () =>
    [all, chosen()].map((values) => ({ ...values, __rate_interval: "1m", datasource: "prometheus" }));

  /** What "data" means for the queries whose answer is known from this run. */
  const expectations: Record<string, (samples: PromSample[]) => void> = {
    "Migrated [A]": (s) => expect(s[0]?.value).toBeCloseTo((KEYS.length - 1) / KEYS.length),
    "Keys by status [A]": (s) =>
      expect(Object.fromEntries(s.map((x) => [x.metric["status"], x.value]))).toEqual({
        queued: 0,
        in_progress: 0,
        migrated: KEYS.length - 1,
        failed: 1,
      }),
    "ETA [A]": (s) => expect(s[0]?.value).toBe(0),
    "Workers up [A]": (s) => expect(s[0]?.value).toBe(1),
    // The quota line: GetParametersForImport's 1/s (AWS's default: the test sets no HSM2KMS_KMS_QUOTAS) as
    // keys per minute, the most this Region can finish.
    "Keys finished per minute [B]": (s) => expect(s.map((x) => x.value)).toEqual([60]),
    "KMS requests by operation and outcome, against the quota [B]": (s) => {
      const quota = Object.fromEntries(s.map((x) => [x.metric["operation"], x.value]));
      expect(quota).toMatchObject({ GetParametersForImport: 1, CreateKey: 5, ImportKeyMaterial: 15 });
    },
    "KMS request latency p95 by operation [A]": (s) => {
      expect(s.map((x) => x.metric["operation"])).toContain("ImportKeyMaterial");
      expect(s.some((x) => Number.isFinite(x.value) && x.value > 0)).toBe(true);
    },
    "Failed keys by reason [A]": (s) =>
      expect(s.map((x) => [x.metric["code"], x.value])).toEqual([["SOURCE_KEY_NOT_EXTRACTABLE", 1]]),
    // The emulator runs without quotas: a zero per operation called, not "no data".
    "KMS throttles by operation [A]": (s) => {
      expect(s.map((x) => x.metric["operation"])).toContain("GetParametersForImport");
      for (const sample of s) expect(sample.value).toBe(0);
    },
    // No token went back to params: each reason's series exists from the worker's start, at zero, so a
    // first refresh shows in increase() (a series born at 1 would not).
    "Import token refreshes by reason [A]": (s) => {
      expect(s.map((x) => x.metric["reason"])).toContain("IMPORT_TOKEN_EXPIRED");
      for (const sample of s) expect(sample.value).toBe(0);
    },
    "Phase runs that succeeded per second [A]": (s) =>
      expect(new Set(s.map((x) => x.metric["phase"]))).toEqual(
        new Set(["preflight", "create", "params", "wrap", "import", "verify"]),
      ),
    "Phase latency p95 [A]": (s) => expect(s.some((x) => Number.isFinite(x.value) && x.value > 0)).toBe(true),
    "HSM sessions [B]": (s) => expect(s[0]?.value).toBeGreaterThan(0),
    "Key material expires in [A]": (s) =>
      expect(s[0]?.value).toBeCloseTo((EXPIRES_AT.getTime() - Date.now()) / 1000, -3),
    "Failed renewals [A]": (s) => expect(s.map((x) => [x.metric["region"], x.value])).toEqual([[REGION, 0]]),
    "Queue depth by Region, phase and state [A]": (s) => {
      expect(s.length).toBeGreaterThanOrEqual(6 * 5);
      for (const sample of s) {
        expect(sample.metric["region"]).toBe(REGION);
        if (sample.metric["state"] !== "failed") expect(sample.value).toBe(0);
      }
    },
  };

  it("has the panels operators need", () => {
    const titles = dashboard.panels.map((panel) => panel.title);
    for (const title of Object.keys(expectations)) expect(titles).toContain(title.replace(/ \[\w\]$/, ""));
    expect(queries.length).toBeGreaterThanOrEqual(20);
  });

  it("filters every series that carries an account label by the account variable, as it filters Regions", () => {
    // The metrics with an `account` label (src/shared/metrics.ts, src/campaign/fleet-metrics.ts,
    // src/lifecycle/expiry-metrics.ts).
    const withAccount =
      /^hsm2kms_(fleet_keys|fleet_failures|phase_duration_seconds\w*|kms_requests_total|kms_request_duration_seconds\w*|kms_throttled_total|kms_quota_requests_per_second|import_token_refreshes_total|queue_jobs|key_material_expires_seconds|key_material_renewal_failures)$/;
    let checked = 0;
    for (const { where, expr } of queries)
      for (const [, metric, matchers] of expr.matchAll(/(\w+)\{([^}]*)\}/g))
        if (withAccount.test(metric ?? "")) {
          checked++;
          expect(matchers, `${where}: ${metric}`).toContain('account=~"$account"');
          expect(matchers, `${where}: ${metric}`).toContain('region=~"$region"');
        }
    expect(checked).toBeGreaterThanOrEqual(15);
  });

  it("gives every panel a unit and thresholds", () => {
    const panels = dashboard.panels as Array<{
      title: string;
      type: string;
      fieldConfig?: { defaults?: { unit?: string; thresholds?: { steps?: unknown[] } } };
    }>;
    for (const panel of panels.filter((p) => p.type !== "row")) {
      expect(panel.fieldConfig?.defaults?.unit, `${panel.title}: unit`).toBeTruthy();
      expect(
        panel.fieldConfig?.defaults?.thresholds?.steps?.length,
        `${panel.title}: thresholds`,
      ).toBeGreaterThan(0);
    }
  });

  it("puts the campaign on every series hsm2kms exports, and selects it in every hsm2kms query", async () => {
    const unlabelled = `{__name__=~"hsm2kms_.+|process_.+|nodejs_.+",job=~"hsm2kms-.+",campaign!="${prefix}"}`;
    expect(await prometheus!.query(unlabelled)).toEqual([]);
    expect(
      (await prometheus!.query(`count({__name__=~"hsm2kms_.+",campaign="${prefix}"})`))[0]?.value,
    ).toBeGreaterThan(50);
    for (const { where, expr } of queries)
      for (const selector of expr.matchAll(/\b(?:hsm2kms|process|nodejs)_\w+\{([^}]*)\}/g))
        expect(selector[1], `${where}: ${selector[0]}`).toContain('campaign=~"$campaign"');
  });

  it("evaluates every query: valid, and with data", async () => {
    const evaluated: string[] = [];
    for (const values of substitutions())
      for (const { where, expr } of queries) {
        const samples = await prometheus!.query(substitute(expr, values));
        if (where.startsWith("annotation")) {
          // Firing alerts: none during a healthy run (the rules load and evaluate: see the next test).
          expect(samples, where).toEqual([]);
        } else {
          expect(samples.length, `${where} with ${JSON.stringify(values)}: ${expr}`).toBeGreaterThan(0);
          expectations[where]?.(samples);
        }
        evaluated.push(where);
      }
    expect(evaluated.length).toBe(queries.length * 2);
  });

  it("resolves the template variables through the label values API", async () => {
    const expected: Record<string, string> = chosen();
    const variables = dashboardVariables(dashboard);
    expect(variables.map((variable) => variable.name)).toEqual([
      "campaign",
      "region",
      "account",
      "job",
      "instance",
    ]);
    for (const { name, selector, label } of variables) {
      // No key of this run goes to another account: the account variable has no value but All.
      if (name === "account") continue;
      // A variable's selector may use the ones before it (Region within the campaign, worker within the job).
      const query = encodeURIComponent(substitute(selector, expected));
      const values = await prometheus!.api<string[]>(`/api/v1/label/${label}/values?match[]=${query}`);
      expect(values, name).toContain(expected[name]);
    }
  });

  it("sees the first failure rise from a series that existed at 0 (what Hsm2kmsFailureRatioHigh counts)", async () => {
    const rise = `sum by (region) (delta(hsm2kms_fleet_keys{status="failed",region="${REGION}"}[5m]))`;
    expect(await value(rise)).toBeGreaterThan(0);
    const lowest = `min_over_time(hsm2kms_fleet_keys{status="failed",region="${REGION}"}[5m])`;
    expect(await value(lowest)).toBe(0);
  });

  it("loads every alert rule of deploy/prometheus, healthy, none firing", async () => {
    const data = await prometheus!.api<{
      groups: Array<{ rules: Array<{ name: string; health: string; state: string; lastError?: string }> }>;
    }>("/api/v1/rules?type=alert");
    const rules = data.groups.flatMap((group) => group.rules);
    expect(rules.length).toBeGreaterThanOrEqual(7);
    for (const rule of rules) {
      expect(rule.health, `${rule.name}: ${rule.lastError ?? ""}`).toBe("ok");
      expect(rule.state, rule.name).not.toBe("firing");
    }
  });

  it("answers /healthz and /readyz on the worker and the status exporter", async () => {
    for (const address of [workerAddress, statusAddress])
      for (const path of ["/healthz", "/readyz"]) {
        const response = await fetch(`http://${address}${path}`);
        expect(response.status, `${address}${path}: ${await response.text()}`).toBe(200);
      }
  });
});
