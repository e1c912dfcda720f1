import { Command } from "commander";
import { SAMPLE_KEY_NAMES } from "../../sandbox/sample-keys.js";
import { EXIT } from "../exit-codes.js";

interface SandboxInitFlags {
  dir: string;
  label?: string;
  force?: boolean;
}

/** Quotes a value for a POSIX shell `export` line. */
function shellQuote(value: string): string {
  return /^[A-Za-z0-9_./:@%+=-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * Registers `hsm2kms sandbox` and its `init` subcommand; returns the `sandbox` command so that other
 * subcommands (e.g. `demo`) can be added to it.
 */
export function registerSandboxCommand(program: Command): Command {
  const sandbox = program
    .command("sandbox")
    .description("Local rehearsal stack: a SoftHSM2 token with sample keys (and, with the emulator, a KMS)");
  sandbox.addCommand(sandboxInitCommand());
  return sandbox;
}

function sandboxInitCommand(): Command {
  return new Command("init")
    .description(
      `Create (or reuse) a SoftHSM2 token in DIR with the sample keys generated inside it (${SAMPLE_KEY_NAMES.length} keys: ` +
        "EC P-256/P-384/P-521/secp256k1, RSA 2048/3072/4096, AES-256, HMAC 224-512, one non-extractable EC key). " +
        "Prints `export` lines for SOFTHSM2_CONF, HSM2KMS_PKCS11_LIB, HSM2KMS_TOKEN_LABEL and HSM2KMS_PKCS11_PIN_FILE " +
        "(the PIN stays in DIR/user.pin). Running it again adds only missing keys.",
    )
    .requiredOption("--dir <dir>", "directory for softhsm2.conf, tokens/ and the PIN file")
    .option("--label <label>", "token label (default: hsm2kms-sandbox)")
    .option("--force", "delete the token in DIR and create a new one")
    .action(async (flags: SandboxInitFlags) => {
      const { initSandboxToken } = await import("../../sandbox/softhsm.js");
      const token = await initSandboxToken({
        dir: flags.dir,
        label: flags.label,
        force: flags.force === true,
      });
      for (const [name, value] of Object.entries(token.env))
        process.stdout.write(`export ${name}=${shellQuote(value)}\n`);
      process.stderr.write(
        `${token.reused ? "reused" : "created"} token "${token.label}" in ${token.dir}: ` +
          `${token.created.length} sample keys generated, ${SAMPLE_KEY_NAMES.length - token.created.length} already there\n`,
      );
      process.exitCode = EXIT.ok;
    });
}
