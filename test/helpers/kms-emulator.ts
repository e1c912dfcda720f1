/**
 * The KMS emulator as the pipeline's tests start it: the same emulator, except that each RSA wrapping key serves
 * several GetParametersForImport answers (`wrappingKeyReuse`), as `hsm2kms kms-emulator` does by default. An
 * RSA-2048 generation costs about 170 ms of CPU here, and these tests ask for parameters hundreds of times on a
 * 2-core machine: generating a key per call would spend the suite's time measuring the emulator. Every answer still
 * has its own import token, bound to its KMS key. The emulator's own tests (kms-emulator-*.test.ts) import
 * src/testkit directly, with a fresh key per call as AWS KMS makes them. Nor do these emulators generate keys
 * ahead (`wrappingKeyPoolSize` 0): at 25 answers a key, a suite seldom needs a second one, and the two the
 * default pool makes ahead were thrown away by every emulator the suite started.
 */
import {
  type KmsEmulator,
  type KmsEmulatorOptions,
  startKmsEmulator as startEmulator,
} from "../../src/testkit/kms-emulator/index.js";

export * from "../../src/testkit/kms-emulator/index.js";

/** GetParametersForImport answers one wrapping key serves in the pipeline's tests. */
export const TEST_WRAPPING_KEY_REUSE = 25;

/** Starts the emulator with the tests' wrapping-key reuse and no pool unless `options` says otherwise. */
export function startKmsEmulator(options?: KmsEmulatorOptions): Promise<KmsEmulator> {
  return startEmulator({ wrappingKeyReuse: TEST_WRAPPING_KEY_REUSE, wrappingKeyPoolSize: 0, ...options });
}
