import { Command, CommanderError } from "commander";
import { ConfigError } from "../shared/errors.js";
import { endQuietlyOnClosedPipe, isClosedPipe } from "./closed-pipe.js";
import { registerCommands } from "./commands/index.js";
import { EXIT } from "./exit-codes.js";
import { explainRedisFailure } from "./runtime.js";

endQuietlyOnClosedPipe();
const program = new Command();
program
  .name("hsm2kms")
  .description(
    [
      "Migrate keys from a PKCS#11 HSM (AWS CloudHSM) into AWS KMS as imported keys, proving each one.",
      "Configuration comes from environment variables: REDIS_URL, AWS_REGION, HSM2KMS_KMS_ENDPOINT, HSM2KMS_PKCS11_LIB, HSM2KMS_TOKEN_LABEL (or HSM2KMS_PKCS11_SLOT), HSM2KMS_PKCS11_PIN_FILE (or HSM2KMS_PKCS11_PIN), HSM2KMS_METRICS_PORT and more (README; `hsm2kms config` shows what was understood). A PIN is never accepted on the command line.",
      "Typical run: `hsm2kms inventory --out keys.csv`, edit it, `hsm2kms enqueue keys.csv`, `hsm2kms worker` on each HSM client host, `hsm2kms status --watch`, then `hsm2kms report`.",
      "Exit codes: 0 all good, 1 some keys failed, 2 usage or configuration error.",
    ].join("\n\n"),
  )
  .version("0.1.0")
  .showHelpAfterError("(run with --help for usage)")
  .exitOverride();

await registerCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (isClosedPipe(error)) {
    // A write callback saw the closed pipe before the stream's error event: the same quiet end.
    process.exit(0);
  } else if (error instanceof CommanderError) {
    // --help and --version end here with exit code 0; usage errors were already printed by commander.
    process.exitCode = error.exitCode === 0 ? EXIT.ok : EXIT.usage;
  } else if (error instanceof ConfigError) {
    process.stderr.write(`hsm2kms: ${error.message}\n`);
    process.exitCode = EXIT.usage;
  } else {
    const message = explainRedisFailure(error) ?? (error instanceof Error ? error.message : String(error));
    process.stderr.write(`hsm2kms: ${message}\n`);
    process.exitCode = EXIT.failed;
  }
}

// The command is done and has closed what it opened. If a library still holds the event loop open (BullMQ
// timers after Redis went away, seen after a forced shutdown), leave anyway: an unref'd timer fires only
// while something else keeps the process alive, so a clean exit is not delayed.
setTimeout(() => {
  process.stderr.write("hsm2kms: finished, but something kept the process alive; exiting\n");
  process.exit();
}, 5000).unref();
