import type { Command } from "commander";
import { registerConfigCommand } from "./config.js";
import { registerKmsEmulatorCommand } from "./kms-emulator.js";
import { registerSandboxCommand } from "./sandbox.js";

/**
 * Every subcommand registers itself here: one `register...Command(program)` per file in this folder.
 * Add one import and one line per command; keep the list in the order `--help` should show them.
 */
export function registerCommands(program: Command): void {
  registerConfigCommand(program);
  registerKmsEmulatorCommand(program);
  registerSandboxCommand(program);
}
