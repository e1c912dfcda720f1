export {
  type KmsEmulatorFlags,
  kmsEmulatorClockStepMs,
  kmsEmulatorOptionsFromFlags,
  readCredentialsFile,
} from "./flags.js";
export type { KmsEmulatorOptions } from "./options.js";
export type { KmsEmulatorStats, OperationStats } from "./quotas.js";
export { type EmulatorRole, ROLE_ARN } from "./roles.js";
export { type KmsEmulator, startKmsEmulator } from "./server.js";
