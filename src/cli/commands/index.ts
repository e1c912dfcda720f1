import type { Command } from "commander";
import { registerAbandonCommand } from "./abandon.js";
import { registerAuditCommand } from "./audit.js";
import { registerConfigCommand } from "./config.js";
import { registerEnqueueCommand } from "./enqueue.js";
import { registerEvidenceCommand } from "./evidence.js";
import { registerInventoryCommand } from "./inventory.js";
import { registerKeymapCommand } from "./keymap.js";
import { registerKmsEmulatorCommand } from "./kms-emulator.js";
import { registerMigrateCommand } from "./migrate.js";
import { registerPlanCommand } from "./plan.js";
import { registerRenewCommand } from "./renew.js";
import { registerReportCommand } from "./report.js";
import { registerRetryCommand } from "./retry.js";
import { registerSandboxCommand } from "./sandbox.js";
import { registerSandboxDemoCommand } from "./sandbox-demo.js";
import { registerStatusCommand } from "./status.js";
import { registerWorkerCommand } from "./worker.js";

/**
 * Every subcommand registers itself here: one `register...Command(program)` per file in this folder.
 * Add one import and one line per command; keep the list in the order `--help` should show them.
 * The sandbox's commands (`kms-emulator`, `sandbox`) load the testkit only when they run (src/cli/testkit.ts):
 * where it is left out (the published package, the Docker image) they exit 2 saying so.
 */
export async function registerCommands(program: Command): Promise<void> {
  registerInventoryCommand(program);
  registerPlanCommand(program);
  registerEnqueueCommand(program);
  registerWorkerCommand(program);
  registerMigrateCommand(program);
  registerStatusCommand(program);
  registerReportCommand(program);
  registerEvidenceCommand(program);
  registerAuditCommand(program);
  registerKeymapCommand(program);
  registerRetryCommand(program);
  registerAbandonCommand(program);
  registerRenewCommand(program);
  registerConfigCommand(program);
  registerKmsEmulatorCommand(program);
  registerSandboxDemoCommand(registerSandboxCommand(program));
}
