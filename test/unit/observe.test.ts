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

    events.emit("key:finished", { status: "failed", keySpec: "RSA_2048", region: "eu-west-1" });
    events.emit("region:served", { region: "eu-west-1", phases: ["verify"] });
    const counted = await metrics.registry.metrics();
    expect(
      sample(counted, 'hsm2kms_keys_total{status="failed",key_spec="RSA_2048",region="eu-west-1"}'),
    ).toMatch(/ 1$/);
  });
});
