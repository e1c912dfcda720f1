import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { type FaultyHsm, faultyHsm, type HsmFault } from "../../src/testkit/faulty-hsm.js";
import { Figures } from "../helpers/chaos/figures.js";
import { runInProcessFleet, sessionInvalidator } from "../helpers/chaos/in-process-fleet.js";
import { addToFigures, checkInvariants } from "../helpers/chaos/invariants.js";
import { reliabilityBench } from "../helpers/reliability-bench.js";

const figures = new Figures("HSM faults (in-process fleet, faulty-hsm over SoftHSM2)");
const bench = reliabilityBench({ keys: { mixed: { label: "hsmfault", count: 5 } }, figures });

/** One fleet run with a fault plan over the real HSM; returns the invariant report and what was injected. */
async function runWith(
  plan: (call: { operation: string; callNumber: number }) => HsmFault | undefined,
  env: Record<string, string> = {},
  allowedFailures: string[] = [],
) {
  const emulator = await bench.emulator({ quotas: false, acceptKwpZeroPadding: true });
  const prefix = bench.prefix("hsmfault");
  let wrapped: FaultyHsm | undefined;
  const log = new PassThrough();
  const lines: string[] = [];
  log.on("data", (chunk) => lines.push(String(chunk)));
  const started = Date.now();
  const result = await runInProcessFleet({
    token: bench.token,
    emulatorUrl: emulator.url,
    prefix,
    keys: bench.keys,
    env: { HSM2KMS_LOG_LEVEL: "info", ...env },
    logSink: log,
    wrapHsm: (hsm) => {
      wrapped = faultyHsm(hsm, { faultFor: plan, invalidateSessions: sessionInvalidator(bench.token.env) });
      return wrapped;
    },
  });
  const report = await checkInvariants({
    prefix,
    emulatorUrl: emulator.url,
    tokenEnv: bench.token.env,
    hsmObjectsBefore: bench.objectsBefore,
    expectedKeys: bench.keys.length,
    allowedFailures,
  });
  figures.trials++;
  for (const [kind, count] of Object.entries(wrapped?.injected ?? {})) figures.fault(`hsm:${kind}`, count);
  addToFigures(figures, report);
  return {
    report,
    result,
    injected: wrapped?.injected ?? {},
    log: lines.join(""),
    elapsedMs: Date.now() - started,
  };
}

describe("HSM faults", () => {
  it("sessions invalidated under running phases: the real session pool reconnects and every key migrates", async () => {
    const { report, result, injected, log } = await runWith(({ operation, callNumber }) =>
      (operation === "wrapKey" && callNumber % 2 === 1) || (operation === "describeKey" && callNumber === 3)
        ? { kind: "session-invalidated" }
        : undefined,
    );
    expect(result.timedOut).toBe(false);
    expect(report.problems).toEqual([]);
    expect(report.migrated).toBe(bench.keys.length);
    expect(injected["session-invalidated"]).toBeGreaterThanOrEqual(3);
    // The pool, not a retry of the phase, absorbed it: it logged the reconnect.
    expect(log).toContain("HSM session lost; reconnecting");
  });

  it("the token unavailable for a while: phases retry with backoff (bounded) and every key migrates", async () => {
    let downUntil = 0;
    const { report, result, injected } = await runWith(({ operation }) => {
      if (operation === "wrapKey" && downUntil === 0) downUntil = Date.now() + 1500;
      return Date.now() < downUntil ? { kind: "token-unavailable" } : undefined;
    });
    expect(result.timedOut).toBe(false);
    expect(report.problems).toEqual([]);
    expect(report.migrated).toBe(bench.keys.length);
    expect(injected["token-unavailable"]).toBeGreaterThan(0);
    // The wrap of at least one key was retried, and no key spent more than the limit.
    const wrapRetries = report.records.map((record) => record.attempts - 6);
    expect(Math.max(...wrapRetries)).toBeGreaterThan(0);
    expect(Math.max(...wrapRetries)).toBeLessThan(8);
  });

  it("a token that stays down: every key fails with HSM_UNAVAILABLE after the bounded attempts, not forever", async () => {
    let wraps = 0;
    const { report, result, elapsedMs } = await runWith(
      ({ operation }) => {
        if (operation !== "wrapKey") return undefined;
        wraps++;
        return { kind: "token-unavailable" };
      },
      { HSM2KMS_MAX_ATTEMPTS: "3" },
      ["HSM_UNAVAILABLE"],
    );
    expect(result.timedOut).toBe(false);
    expect(report.problems).toEqual([]);
    expect(report.failed).toBe(bench.keys.length);
    for (const record of report.records) {
      expect(record.error).toMatchObject({ code: "HSM_UNAVAILABLE", phase: "wrap" });
      expect(record.error?.message).toContain("gave up after 3 attempts in wrap");
      // The KMS key made for it is known to the ledger (PendingImport), so an operator can retry or delete it.
      expect(record.kmsKeyId).toBeDefined();
    }
    expect(wraps).toBe(bench.keys.length * 3);
    expect(elapsedMs).toBeLessThan(30_000);
  });
});
