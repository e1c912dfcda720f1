/**
 * A bench-only `hsm2kms worker`: one "host" of the hosts scenario, run as its own process
 * (`node --import tsx bench/lib/worker-host.ts [--phases LIST] [--regions LIST] [--wrap-delay-ms N]`).
 *
 * It assembles the fleet from the same functions as `runWorker` (src/cli/commands/worker.ts): configuration
 * from the environment, phase selection, the Redis runtime, the HSM with one session per concurrent HSM job,
 * `startFleet`. Two differences, both on purpose: the HSM port is wrapped by `slowWrapHsm` (an injected wrap
 * latency, without a test hook in production code), and there is no /metrics server. It prints `ready` on
 * stdout once its workers are started, stops on SIGTERM like the CLI, and prints a JSON line counting the
 * phases it ran (`{"phases":{"wrap:success":30,...}}`) before it exits.
 */
import { parseArgs } from "node:util";
import { selectPhases } from "../../src/cli/commands/worker.js";
import { configFrom, openHsm, openRuntime, TOOL_VERSION } from "../../src/cli/runtime.js";
import type { HsmPort } from "../../src/shared/hsm/types.js";
import { HSM_PHASES } from "../../src/shared/migration.js";
import { WorkerEvents } from "../../src/workers/events.js";
import { startFleet } from "../../src/workers/fleet.js";
import { slowWrapHsm } from "./slow-hsm.js";

const SHUTDOWN_DEADLINE_MS = 10_000;

const { values } = parseArgs({
  options: {
    phases: { type: "string" },
    regions: { type: "string" },
    "wrap-delay-ms": { type: "string", default: "0" },
  },
});
const wrapDelayMs = Number(values["wrap-delay-ms"]);
if (!Number.isInteger(wrapDelayMs) || wrapDelayMs < 0) {
  process.stderr.write(`--wrap-delay-ms ${values["wrap-delay-ms"]}: expected a whole number of ms\n`);
  process.exit(2);
}

const config = configFrom({});
// The benchmark measures the migration: it leaves the scheduled renewal out.
const { phases } = selectPhases(values.phases, config);
const regions = values.regions
  ?.split(",")
  .map((region) => region.trim())
  .filter(Boolean);
const runtime = await openRuntime(config, "bench-worker-host");
let hsm: HsmPort | undefined;
try {
  if (phases.some((phase) => HSM_PHASES.includes(phase)))
    hsm = slowWrapHsm(await openHsm(config, runtime.logger), wrapDelayMs);
  const events = new WorkerEvents(runtime.logger);
  const ran: Record<string, number> = {};
  events.on("phase:ended", ({ phase, outcome }) => {
    const name = `${phase}:${outcome}`;
    ran[name] = (ran[name] ?? 0) + 1;
  });
  const fleet = await startFleet({
    config,
    phases,
    regions,
    hsm,
    connection: runtime.redis,
    logger: runtime.logger,
    toolVersion: TOOL_VERSION,
    events,
  });
  const stop = () => void fleet.close(SHUTDOWN_DEADLINE_MS);
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  process.stdout.write("ready\n");
  await fleet.stopped;
  await fleet.close(SHUTDOWN_DEADLINE_MS);
  process.stdout.write(`${JSON.stringify({ phases: ran })}\n`);
} finally {
  await hsm?.close();
  await runtime.close();
}
