import { describe, expect, it } from "vitest";
import { createMetrics } from "../../src/shared/metrics.js";
import { WorkerEvents } from "../../src/workers/events.js";
import { observeWorkers } from "../../src/workers/observe.js";

const sample = (text: string, series: string) =>
  text.split("\n").find((line) => line.startsWith(`${series} `));

describe("worker metrics", () => {
  it("start a served Region's failure, throttle and refresh series at zero, then count from there", async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const events = new WorkerEvents();
    observeWorkers(events, metrics);
    const before = await metrics.registry.metrics();
    expect(sample(before, 'hsm2kms_keys_total{status="failed",key_spec="RSA_2048",region="eu-west-1"}')).toBe(
      undefined,
    );

    events.emit("region:served", { region: "eu-west-1", phases: ["params"] });
    const served = await metrics.registry.metrics();
    expect(
      sample(served, 'hsm2kms_keys_total{status="failed",key_spec="RSA_2048",region="eu-west-1"}'),
    ).toMatch(/ 0$/);
    expect(
      sample(served, 'hsm2kms_kms_throttled_total{operation="GetParametersForImport",region="eu-west-1"}'),
    ).toMatch(/ 0$/);
    expect(
      sample(
        served,
        'hsm2kms_import_token_refreshes_total{reason="IMPORT_TOKEN_EXPIRED",region="eu-west-1"}',
      ),
    ).toMatch(/ 0$/);

    // The phase's duration histogram too: Hsm2kmsJobsStalled must see a fresh worker's first run end.
    const paramsRuns =
      'hsm2kms_phase_duration_seconds_count{phase="params",outcome="success",region="eu-west-1"}';
    expect(sample(served, paramsRuns)).toMatch(/ 0$/);
    expect(
      sample(
        served,
        'hsm2kms_phase_duration_seconds_count{phase="wrap",outcome="success",region="eu-west-1"}',
      ),
    ).toBe(undefined);

    events.emit("key:finished", { status: "failed", keySpec: "RSA_2048", region: "eu-west-1" });
    events.emit("phase:ended", { phase: "params", outcome: "success", region: "eu-west-1", durationMs: 5 });
    events.emit("region:served", { region: "eu-west-1", phases: ["params", "verify"] });
    const counted = await metrics.registry.metrics();
    expect(
      sample(counted, 'hsm2kms_keys_total{status="failed",key_spec="RSA_2048",region="eu-west-1"}'),
    ).toMatch(/ 1$/);
    expect(sample(counted, paramsRuns), "a second region:served keeps the count").toMatch(/ 1$/);
  });

  it("a Region's full key quota shows as 1 on hsm2kms_kms_resource_quota_exceeded until a key is created there", async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const events = new WorkerEvents();
    observeWorkers(events, metrics);
    const series = 'hsm2kms_kms_resource_quota_exceeded{region="us-east-1",quota="AWS KMS keys"}';
    const event = { region: "us-east-1", quota: "AWS KMS keys", operation: "CreateKey" };
    events.emit("kms:resource-quota", { ...event, state: "exceeded" });
    expect(sample(await metrics.registry.metrics(), series)).toMatch(/ 1$/);
    events.emit("kms:resource-quota", { ...event, state: "cleared" });
    expect(sample(await metrics.registry.metrics(), series)).toMatch(/ 0$/);
  });

  it("draw the quota a worker paces at and time each KMS call, with the campaign on every series", async () => {
    const metrics = createMetrics({ defaultMetrics: false, campaign: "payments-2026" });
    const events = new WorkerEvents();
    observeWorkers(events, metrics, { GetParametersForImport: 10, CreateKey: 5 });
    events.emit("region:served", { region: "eu-west-1", phases: ["params"] });
    events.emit("kms:request", {
      region: "eu-west-1",
      operation: "GetParametersForImport",
      outcome: "success",
      durationMs: 40,
    });
    const text = await metrics.registry.metrics();
    expect(
      sample(
        text,
        'hsm2kms_kms_quota_requests_per_second{operation="GetParametersForImport",region="eu-west-1",campaign="payments-2026"}',
      ),
    ).toMatch(/ 10$/);
    const duration =
      'hsm2kms_kms_request_duration_seconds_bucket{le="0.05",campaign="payments-2026",operation="GetParametersForImport",region="eu-west-1"}';
    expect(sample(text, duration)).toMatch(/ 1$/);
    expect(sample(text, duration.replace('le="0.05"', 'le="0.025"'))).toMatch(/ 0$/);
    const series = text.split("\n").filter((line) => line.startsWith("hsm2kms_"));
    expect(series.length).toBeGreaterThan(10);
    for (const line of series)
      expect(line, "every series names its campaign").toContain('campaign="payments-2026"');
  });
});
