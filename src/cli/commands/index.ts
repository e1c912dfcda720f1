import type { Command } from "commander";
import { registerAuditCommand } from "./audit.js";
import { registerConfigCommand } from "./config.js";
import { registerEnqueueCommand } from "./enqueue.js";
import { registerEvidenceCommand } from "./evidence.js";
import { registerInventoryCommand } from "./inventory.js";
import { registerKmsEmulatorCommand } from "./kms-emulator.js";
import { registerMigrateCommand } from "./migrate.js";
import { registerPlanCommand } from "./plan.js";
import { registerReportCommand } from "./report.js";
import { registerRetryCommand } from "./retry.js";
import { registerSandboxCommand } from "./sandbox.js";
import { registerSandboxDemoCommand } from "./sandbox-demo.js";
import { registerStatusCommand } from "./status.js";
import { registerWorkerCommand } from "./worker.js";

/**
 * Every subcommand registers itself here: one `register...Command(program)` per file in this folder.
 * Add one import and one line per command; keep the list in the order `--help` should show them.
 */
export function registerCommands(program: Command): void {
  registerInventoryCommand(program);
  registerPlanCommand(program);
  registerEnqueueCommand(program);
  registerWorkerCommand(program);
  registerMigrateCommand(program);
  registerStatusCommand(program);
  registerReportCommand(program);
  registerEvidenceCommand(program);
  registerAuditCommand(program);
  registerRetryCommand(program);
  registerConfigCommand(program);
  registerKmsEmulatorCommand(program);
  registerSandboxDemoCommand(registerSandboxCommand(program));
}
