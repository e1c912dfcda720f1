import { resolve } from "node:path";
import type { Command } from "commander";
import { EXIT } from "../exit-codes.js";
import { loadDemo } from "../testkit.js";

interface DemoFlags {
  dir: string;
  region: string;
  prefix: string;
}

/** `hsm2kms sandbox demo`: the README's first command. The demo itself is src/testkit/demo/run-demo.ts. */
export function registerSandboxDemoCommand(sandbox: Command): void {
  sandbox
    .command("demo")
    .description(
      "Run a real migration end to end on this machine: a SoftHSM2 token with sample keys of every importable type (made once in --dir, then reused), a fresh KMS emulator with AWS's default quotas and eventual consistency (each new key, alias and import unseen for up to 2 s), Redis queues and workers. Prints one line per key, writes the report, then a signed evidence pack (--dir/evidence) and checks it offline, then audits every key in the HSM against KMS (--dir/audit.csv). Exit 0 when every key migrated and verified but the deliberately non-extractable one, the pack verified and the audit found no problem.",
    )
    .option("--dir <dir>", "sandbox directory (token, manifest, report)", ".sandbox")
    .option("--region <region>", "target Region in the emulator", "us-east-1")
    .option("--prefix <prefix>", "Redis key prefix for the demo (wiped first)", "hsm2kms-sandbox")
    .action(async (flags: DemoFlags) => {
      const { runDemo, sandboxUsage } = await loadDemo();
      const result = await runDemo({
        dir: resolve(flags.dir),
        region: flags.region,
        prefix: flags.prefix,
        env: process.env,
        out: process.stdout,
        err: process.stderr,
      });
      process.stdout.write(sandboxUsage(result, flags.region));
      process.exitCode = result.ok ? EXIT.ok : EXIT.failed;
    });
}
