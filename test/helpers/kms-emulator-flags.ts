import { Command } from "commander";
import { type KmsEmulatorFlags, registerKmsEmulatorCommand } from "../../src/cli/commands/kms-emulator.js";

/** The flags `hsm2kms kms-emulator` gets with nothing on its command line: its own defaults, read from it. */
export function emulatorFlagDefaults(): KmsEmulatorFlags {
  const program = new Command();
  registerKmsEmulatorCommand(program);
  const command = program.commands.find((candidate) => candidate.name() === "kms-emulator");
  if (!command) throw new Error("no kms-emulator command registered");
  return Object.fromEntries(
    command.options
      // A `--no-x` flag defaults to x = true (commander keeps that outside the option's defaultValue).
      .map((option) => [option.attributeName(), option.negate ? true : option.defaultValue])
      .filter(([, value]) => value !== undefined),
  ) as unknown as KmsEmulatorFlags;
}
