import type { Command } from "commander";
import { type KmsEmulatorFlags, loadKmsEmulator } from "../testkit.js";

export type { KmsEmulatorFlags } from "../testkit.js";

/** Resolves when the process is asked to stop (SIGTERM or SIGINT). */
function stopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off("SIGTERM", stop);
      process.off("SIGINT", stop);
      resolve(signal);
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
  });
}

/** `hsm2kms kms-emulator`: the local, wire-compatible AWS KMS for the demo, tests and benchmarks. */
export function registerKmsEmulatorCommand(program: Command): void {
  program
    .command("kms-emulator")
    .description(
      "Run a local AWS KMS emulator (AWS JSON 1.1, real cryptography, real key import) for @aws-sdk/client-kms " +
        "with an endpoint override. Prints its URL on stdout when listening; SIGTERM or SIGINT stop it, saving state. " +
        "One emulator serves every Region: the Region comes from each request's SigV4 credential scope. " +
        "Signatures are checked as AWS checks them (known access key, secret, signed headers, body, date within 5 minutes).",
    )
    .option("--port <port>", "TCP port; 0 lets the OS pick one", "0")
    .option("--host <host>", "interface to listen on", "127.0.0.1")
    .option(
      "--token-ttl <duration>",
      "life of an import token and its wrapping key (e.g. 24h, 90s, 500ms)",
      "24h",
    )
    .option(
      "--quota <list>",
      "per-Region request quotas as Name=rps,... over the emulator's own defaults, taken from the AWS KMS " +
        "Developer Guide's Request quotas page (not from hsm2kms's table): an operation (e.g. " +
        "GetParametersForImport=10) or a shared pool of cryptographic operations per key type " +
        "(SymmetricCryptography, RsaCryptography, EccCryptography, HmacCryptography); Sign and Verify on RSA " +
        "keys draw from RsaCryptography together",
    )
    .option("--no-quotas", "lift every request quota (no ThrottlingException)")
    .option("--latency-ms <ms>", "delay before each request: N, or a uniform range N-M (default: none)")
    .option(
      "--fault-rate <fraction>",
      "probability (0..1) of an HTTP 500 KMSInternalException per request",
      "0",
    )
    .option(
      "--consistency-delay <ms>",
      "eventual consistency: each new key, alias, import and replica stays unseen by other calls for a random " +
        "0..ms (NotFoundException, PendingImport, Creating), as the AWS KMS Developer Guide warns; 0 is off",
      "0",
    )
    .option(
      "--state <file>",
      "keep keys, aliases and tokens in this JSON file (mode 0600) across restarts (default: memory only)",
    )
    .option(
      "--accept-kwp-zero-padding",
      "accept PKCS#8 material followed by < 8 zero bytes (SoftHSM2 2.6.1 KWP padding), with a warning; AWS KMS rejects it (default: off)",
    )
    .option(
      "--wrapping-key-pool <n>",
      "RSA wrapping keys generated ahead per size (in the background, once a size is used or prepared)",
      "2",
    )
    .option(
      "--wrapping-key-reuse <n>",
      "GetParametersForImport answers one wrapping key serves before the next takes over; 1 is a fresh key per " +
        "call, as AWS KMS. The default keeps RSA key generation under a tenth of a core at 10 calls/s, so a " +
        "rehearsal at raised quotas measures hsm2kms, not the emulator. Import tokens stay one per call, bound to their key",
      "100",
    )
    .option(
      "--wrapping-key-prepare <specs>",
      "wrapping key sizes (RSA_2048,RSA_3072,RSA_4096) generated before the URL is printed (default: none; each size on first use)",
    )
    .option("--account-id <id>", "AWS account ID in ARNs", "111122223333")
    .option(
      "--seed-keys <n>",
      "every Region starts with N unrelated keys (mixed origins, some tagged and aliased), as a real account",
      "0",
    )
    .option(
      "--max-keys <n>",
      "the AWS KMS keys resource quota per Region: CreateKey/ReplicateKey beyond it answer LimitExceededException",
      "100000",
    )
    .option(
      "--tag-index-delay-ms <ms>",
      "delay before a tag change shows in the Resource Groups Tagging API's GetResources: N, or a uniform range N-M",
      "50-500",
    )
    .option(
      "--credentials-file <file>",
      'access keys whose SigV4 signatures are accepted: a JSON array of {"accessKeyId","secretAccessKey"} (default: test/test, sandbox/sandbox, bench/bench)',
    )
    .option(
      "--clock-offset <duration>",
      "test and rehearsal control, not a KMS operation: the clock of key state (import tokens, ValidTo of imported material, deletion dates) runs this far ahead of the host's (e.g. 30d); SigV4 dates are still checked against the host's clock",
      "0",
    )
    .option(
      "--clock-step <duration>",
      "test and rehearsal control: each SIGUSR2 moves that clock forward by this much (e.g. 1h), so material imported with a ValidTo expires on cue (default: SIGUSR2 ignored)",
    )
    .option(
      "--role <arn>",
      "a role STS AssumeRole may assume on this endpoint (repeat for several; ARN#EXTERNAL_ID to require an external id): its credentials act in the account the ARN names, with that account's own keys, aliases, tags and quotas; any other role is AccessDenied",
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option("--log-level <level>", "pino log level (logs go to stderr)", "info")
    .action(async (flags: KmsEmulatorFlags) => {
      const { kmsEmulatorOptionsFromFlags, kmsEmulatorClockStepMs, startKmsEmulator } =
        await loadKmsEmulator();
      const options = kmsEmulatorOptionsFromFlags(flags);
      const clockStepMs = kmsEmulatorClockStepMs(flags);
      const { createLogger } = await import("../../shared/logger.js");
      const logger = createLogger({ level: flags.logLevel, base: { component: "kms-emulator" } });
      const emulator = await startKmsEmulator({ ...options, logger });
      const stepClock = () => {
        if (clockStepMs !== undefined) emulator.advanceClock(clockStepMs);
      };
      process.on("SIGUSR2", stepClock);
      process.stdout.write(`${emulator.url}\n`);
      const signal = await stopSignal();
      process.off("SIGUSR2", stepClock);
      logger.info({ signal }, "kms-emulator: stopping");
      await emulator.close();
    });
}
