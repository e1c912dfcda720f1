import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/shared/config.js";
import { type PacerClock, RequestPacer } from "../../src/shared/kms/index.js";
import { phaseLimiter } from "../../src/shared/queues.js";
import { phaseConcurrency, requestPacesOf } from "../../src/workers/pacing.js";

/** A clock that only moves when told to, and records each wait it was asked for. */
class FakeClock implements PacerClock {
  at = 0;
  readonly waits: number[] = [];
  now(): number {
    return this.at;
  }
  async sleep(ms: number): Promise<void> {
    this.waits.push(ms);
    this.at += ms;
  }
}

/** When each request leaves if `calls` arrive at the given times (each waits for its slot). */
function departures(pacer: RequestPacer, clock: FakeClock, operation: string, arrivals: number[]): number[] {
  return arrivals.map((arrival) => {
    clock.at = Math.max(clock.at, arrival);
    return arrival + pacer.reserve(operation);
  });
}

describe("RequestPacer", () => {
  it("spaces bunched calls of a 1/s operation a full interval apart, whatever their arrival", () => {
    const clock = new FakeClock();
    const pacer = new RequestPacer({ GetParametersForImport: { burst: 1, intervalMs: 1020 } }, clock);
    // Jobs started 1,020 ms apart, but ledger reads and DescribeKey took 300 ms for the first and 5 ms for the
    // second: without the pacer the two calls would reach KMS 725 ms apart and the second would be throttled.
    const sent = departures(pacer, clock, "GetParametersForImport", [300, 1025, 2040, 5000]);
    expect(sent).toEqual([300, 1320, 2340, 5000]);
    for (let i = 1; i < sent.length; i++) expect(sent[i]! - sent[i - 1]!).toBeGreaterThanOrEqual(1000);
    expect(clock.waits).toEqual([]);
  });

  it("never holds calls that already arrive a paced interval apart (no throughput lost)", () => {
    const clock = new FakeClock();
    const pacer = new RequestPacer({ GetParametersForImport: { burst: 1, intervalMs: 1020 } }, clock);
    const arrivals = Array.from({ length: 20 }, (_, i) => 40 + i * 1024);
    expect(departures(pacer, clock, "GetParametersForImport", arrivals)).toEqual(arrivals);
  });

  it("lets a burst of the limiter's window through at once, then one call per interval", () => {
    const clock = new FakeClock();
    const pacer = new RequestPacer({ GetParametersForImport: { burst: 5, intervalMs: 100.6 } }, clock);
    const sent = departures(pacer, clock, "GetParametersForImport", Array(8).fill(0));
    expect(sent.slice(0, 5)).toEqual([0, 0, 0, 0, 0]);
    expect(sent.slice(5).map((at) => Math.round(at))).toEqual([101, 201, 302]);
  });

  it("paces each operation on its own and leaves unpaced operations alone", () => {
    const clock = new FakeClock();
    const pacer = new RequestPacer(
      { GetParametersForImport: { burst: 1, intervalMs: 1000 }, CreateKey: { burst: 1, intervalMs: 500 } },
      clock,
    );
    expect(pacer.reserve("GetParametersForImport")).toBe(0);
    expect(pacer.reserve("CreateKey")).toBe(0);
    expect(pacer.reserve("DescribeKey")).toBe(0);
    expect(pacer.reserve("DescribeKey")).toBe(0);
    expect(pacer.reserve("CreateKey")).toBe(500);
    expect(pacer.reserve("GetParametersForImport")).toBe(1000);
  });

  it("admit waits on its clock for the reserved slot", async () => {
    const clock = new FakeClock();
    const pacer = new RequestPacer({ ImportKeyMaterial: { burst: 1, intervalMs: 250 } }, clock);
    await pacer.admit("ImportKeyMaterial");
    await pacer.admit("ImportKeyMaterial");
    await pacer.admit("ImportKeyMaterial");
    expect(clock.waits).toEqual([250, 250]);
    expect(clock.at).toBe(500);
  });
});

describe("requestPacesOf", () => {
  it("paces the operation of every KMS phase at its limiter's burst and mean interval", () => {
    const config = loadConfig({});
    const paces = requestPacesOf(config);
    const params = phaseLimiter("params", config.kmsQuotas)!;
    expect(paces["GetParametersForImport"]).toEqual({
      burst: params.max,
      intervalMs: params.duration / params.max,
    });
    expect(Object.keys(paces).sort()).toEqual([
      "CreateKey",
      "GetParametersForImport",
      "ImportKeyMaterial",
      "Sign",
    ]);
    // Never faster than the quota itself.
    for (const [operation, pace] of Object.entries(paces))
      expect(pace.intervalMs).toBeGreaterThanOrEqual(1000 / config.kmsQuotas[operation]!);
  });

  it("paces GetParametersForImport by wrap's limiter when the HSM hosts fetch the parameters", () => {
    const config = loadConfig({
      HSM2KMS_PARAMS_ON_HSM_HOST: "true",
      HSM2KMS_KMS_QUOTAS: "GetParametersForImport=10",
    });
    const wrap = phaseLimiter("wrap", config.kmsQuotas, true)!;
    expect(requestPacesOf(config)["GetParametersForImport"]).toEqual({
      burst: wrap.max,
      intervalMs: wrap.duration / wrap.max,
    });
  });
});

describe("phaseConcurrency", () => {
  it("gives wrap the KMS phases' jobs on top of the HSM's sessions only when it fetches its own parameters", () => {
    const normal = loadConfig({ HSM2KMS_HSM_CONCURRENCY: "3", HSM2KMS_KMS_CONCURRENCY: "7" });
    const onHsmHost = loadConfig({
      HSM2KMS_HSM_CONCURRENCY: "3",
      HSM2KMS_KMS_CONCURRENCY: "7",
      HSM2KMS_PARAMS_ON_HSM_HOST: "true",
    });
    const phases = ["preflight", "wrap", "params", "verify"] as const;
    expect(phases.map((phase) => phaseConcurrency(phase, normal))).toEqual([3, 3, 7, 7]);
    expect(phaseConcurrency("wrap", onHsmHost)).toBe(10);
    expect(phaseConcurrency("preflight", onHsmHost)).toBe(3);
  });
});
