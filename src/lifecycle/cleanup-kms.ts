import { DeleteAliasCommand } from "@aws-sdk/client-kms";
import {
  createKmsAdapter,
  createKmsClient,
  type KmsClientSettings,
  mapKmsError,
} from "../shared/kms/index.js";
import type { KmsPort } from "../shared/kms/types.js";

/**
 * What `abandon` asks of KMS in one Region: the migration's own port, plus DeleteAlias (which no phase
 * needs). Every method throws a MigrationError naming the key or alias, as the migration's port does.
 */
export type CleanupKmsPort = Pick<
  KmsPort,
  | "region"
  | "describeKey"
  | "listResourceTags"
  | "findKeysByTag"
  | "deleteImportedKeyMaterial"
  | "scheduleKeyDeletion"
  | "close"
> & {
  deleteAlias(aliasName: string): Promise<void>;
};

/** The cleanup port over @aws-sdk/client-kms for one Region. */
export function createCleanupKms(settings: KmsClientSettings): CleanupKmsPort {
  const kms = createKmsAdapter(settings);
  const client = createKmsClient(settings);
  return {
    region: settings.region,
    describeKey: (keyId) => kms.describeKey(keyId),
    listResourceTags: (keyId) => kms.listResourceTags(keyId),
    findKeysByTag: (tagKey, tagValue) => kms.findKeysByTag(tagKey, tagValue),
    deleteImportedKeyMaterial: (keyId) => kms.deleteImportedKeyMaterial(keyId),
    scheduleKeyDeletion: (keyId, days) => kms.scheduleKeyDeletion(keyId, days),
    deleteAlias: async (aliasName) => {
      try {
        await client.send(new DeleteAliasCommand({ AliasName: aliasName }));
      } catch (error) {
        throw mapKmsError(
          error,
          "DeleteAlias",
          `DeleteAlias (${aliasName}, ${settings.region})`,
          settings.region,
        );
      }
    },
    close: () => {
      kms.close();
      client.destroy();
    },
  };
}
