import type { OperationDefinition } from "../context.js";
import { aliasOperations } from "./aliases.js";
import { encryptionOperations } from "./encryption.js";
import { importOperations } from "./import.js";
import { keyOperations } from "./keys.js";
import { signingOperations } from "./signing.js";
import { tagOperations } from "./tags.js";

/** Every emulated KMS operation, by its X-Amz-Target name (`TrentService.<name>`). */
export const OPERATIONS: Readonly<Record<string, OperationDefinition>> = {
  ...keyOperations,
  ...aliasOperations,
  ...tagOperations,
  ...importOperations,
  ...signingOperations,
  ...encryptionOperations,
};
