import type { Command } from "commander";
import { registerAuditCommand } from "./audit.js";
import { registerConfigCommand } from "./config.js";
import { registerEnqueueCommand } from "./enqueue.js";
import { registerEvidenceCommand } from "./evidence.js";
import { registerInventoryCommand } from "./inventory.js";
import { registerMigrateCommand } from "./migrate.js";
import { registerReportCommand } from "./report.js";
import { registerRetryCommand } from "./retry.js";
import { registerStatusCommand } from "./status.js";
import { registerWorkerCommand } from "./worker.js";

/**
 * Every subcommand registers itself here: one `register...Command(program)` per file in this folder.
 * Add one import and one line per command; keep the list in the order `--help` should show them.
 * The sandbox's commands (`kms-emulator`, `sandbox`) are registered only where the testkit is present: the
 * published package leaves it out (package.json `files`), and the product's commands never need it.
 */
export async function registerCommands(program: Command): Promise<void> {
  registerInventoryCommand(program);
  registerEnqueueCommand(program);
  registerWorkerCommand(program);
  registerMigrateCommand(program);
  registerStatusCommand(program);
  registerReportCommand(program);
  registerEvidenceCommand(program);
  registerAuditCommand(program);
  registerRetryCommand(program);
  registerConfigCommand(program);
  const testkit = await loadTestkitCommands();
  if (testkit) {
    testkit.kmsEmulator.registerKmsEmulatorCommand(program);
    testkit.sandboxDemo.registerSandboxDemoCommand(testkit.sandbox.registerSandboxCommand(program));
  }
}

/** The sandbox's command modules, or undefined when the testkit they import is not installed. */
async function loadTestkitCommands() {
  try {
    const [kmsEmulator, sandbox, sandboxDemo] = await Promise.all([
      import("./kms-emulator.js"),
      import("./sandbox.js"),
      import("./sandbox-demo.js"),
    ]);
    return { kmsEmulator, sandbox, sandboxDemo };
  } catch (error) {
    // Only the testkit's own absence; any other missing module is a broken install and says so.
    const { code, message } = error as { code?: string; message?: string };
    if (code === "ERR_MODULE_NOT_FOUND" && /[/\\](sandbox|testkit)[/\\]/.test(message ?? ""))
      return undefined;
    throw error;
  }
}
