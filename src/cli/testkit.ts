import { ConfigError } from "../shared/errors.js";

// The one door from the product into src/testkit (biome.json's noRestrictedImports keeps every other file
// under src/ out of it). Only the `sandbox` and `kms-emulator` commands come through here, at run time, so
// every other command runs without the testkit present: the Docker image does not ship it.

export type { KmsEmulatorFlags, KmsEmulatorOptions } from "../testkit/kms-emulator/index.js";

/** What a command says when the testkit is not part of this build (e.g. in the Docker image). */
export const TESTKIT_MISSING =
  "the testkit is not part of this build; run from a clone of the repository " +
  "(the sandbox and kms-emulator commands are for rehearsals and tests, not for production)";

/** Loads a testkit module; a build without src/testkit is a ConfigError (exit 2) saying so. */
async function fromTestkit<T>(load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    // Only the testkit's own absence: a module missing inside a present testkit is a real bug, shown as is.
    if (code === "ERR_MODULE_NOT_FOUND" && /[/\\]testkit[/\\]/.test(message) && !testkitPresent(message))
      throw new ConfigError(TESTKIT_MISSING);
    throw error;
  }
}

/** Whether the module not found is one the testkit imports (the testkit is there) rather than the testkit. */
function testkitPresent(message: string): boolean {
  // Node: "Cannot find module '/app/src/testkit/x.ts' imported from /app/src/cli/testkit.ts"
  const importer = /imported from (.*)$/m.exec(message)?.[1] ?? "";
  return /[/\\]testkit[/\\]/.test(importer);
}

/** The KMS emulator and its command-line flags (`hsm2kms kms-emulator`). */
export const loadKmsEmulator = () => fromTestkit(() => import("../testkit/kms-emulator/index.js"));

/** The SoftHSM2 sandbox token and its sample keys (`hsm2kms sandbox init`). */
export const loadSandboxToken = () => fromTestkit(() => import("../testkit/softhsm.js"));

/** The demo (`hsm2kms sandbox demo`). */
export const loadDemo = () => fromTestkit(() => import("../testkit/demo/run-demo.js"));
