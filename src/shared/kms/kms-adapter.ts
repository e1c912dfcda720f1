import {
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DeleteImportedKeyMaterialCommand,
  DeriveSharedSecretCommand,
  DescribeKeyCommand,
  EncryptCommand,
  type EncryptionAlgorithmSpec,
  GenerateMacCommand,
  GetParametersForImportCommand,
  GetPublicKeyCommand,
  ImportKeyMaterialCommand,
  type KeyMetadata,
  type KMSClient,
  ListResourceTagsCommand,
  type MacAlgorithmSpec,
  ReplicateKeyCommand,
  ScheduleKeyDeletionCommand,
  SignCommand,
  type SigningAlgorithmSpec,
} from "@aws-sdk/client-kms";
import { fatal, isMigrationError } from "../errors.js";
import { createKmsClient, type KmsClientSettings } from "./kms-client.js";
import { awsErrorName, mapKmsError } from "./kms-errors.js";
import { KeyQuotaHold } from "./quota-hold.js";
import { type RequestPace, RequestPacer } from "./request-pacer.js";
import { createTaggingClient, findKmsKeysByTag } from "./tag-lookup.js";
import type { KmsKeyInfo, KmsPort, KmsRequestEvent, ResourceQuotaEvent } from "./types.js";

export interface KmsAdapterOptions extends KmsClientSettings {
  /**
   * The account `credentials` act in, named in events and messages; undefined: the caller's own (the
   * credentials then are the caller's).
   */
  account?: string | undefined;
  /** Called after every request; an observer that throws is ignored. */
  onRequest?: (event: KmsRequestEvent) => void;
  /**
   * Called when this Region's key quota is found full (CreateKey/ReplicateKey answered
   * LimitExceededException) and when a key is created there again; an observer that throws is ignored.
   */
  onResourceQuota?: (event: ResourceQuotaEvent) => void;
  /**
   * After a LimitExceededException to CreateKey or ReplicateKey, how long this port refuses to send another
   * (failing the key at once with the same reason) before it lets one through to see whether the quota was
   * raised. @defaultValue 300000 (5 minutes)
   */
  resourceQuotaHoldMs?: number;
  /**
   * Operations whose requests this port spaces itself, just before sending them (the fleet passes its limiters'
   * pace, see RequestPacer). @defaultValue none: every request is sent at once
   */
  pace?: Readonly<Record<string, RequestPace>>;
}

function keyInfo(metadata: KeyMetadata | undefined): KmsKeyInfo {
  if (!metadata?.KeyId || !metadata.Arn)
    throw fatal("KMS_BAD_RESPONSE", "KMS returned key metadata without KeyId/Arn");
  return {
    keyId: metadata.KeyId,
    arn: metadata.Arn,
    keyState: metadata.KeyState ?? "Unknown",
    keySpec: metadata.KeySpec,
    keyUsage: metadata.KeyUsage,
    origin: metadata.Origin,
    creationDate: metadata.CreationDate,
    multiRegion: metadata.MultiRegion ?? false,
    description: metadata.Description,
    algorithms: {
      signing: metadata.SigningAlgorithms,
      encryption: metadata.EncryptionAlgorithms,
      mac: metadata.MacAlgorithms,
      keyAgreement: metadata.KeyAgreementAlgorithms,
    },
    expirationModel: metadata.ExpirationModel,
    validTo: metadata.ValidTo,
  };
}

function required<T>(value: T | undefined, operation: string, field: string): T {
  if (value === undefined) throw fatal("KMS_BAD_RESPONSE", `${operation} returned no ${field}`);
  return value;
}

/** The KMS port over @aws-sdk/client-kms for one Region. */
export function createKmsAdapter(options: KmsAdapterOptions): KmsPort {
  const client: KMSClient = createKmsClient(options);
  // CreateKey is not idempotent: an SDK retry after an answer lost on the way back makes a second key that the
  // create phase never hears of. Send it once; the phase's own retry finds the key a lost attempt made.
  const sendOnceClient: KMSClient = createKmsClient({ ...options, maxAttempts: 1 });
  const tagging = createTaggingClient(options);
  const region = options.region;
  const account = options.account;
  // Where messages say a call went: the Region, with the account when it is another one.
  const place = account === undefined ? region : `account ${account}, ${region}`;
  // Where the calls go, for log lines: the override, else the SDK's default KMS endpoint of the Region
  // (AWS General Reference, "AWS Key Management Service endpoints and quotas").
  const endpoint =
    options.endpoint ?? `https://kms.${region}.amazonaws.com${region.startsWith("cn-") ? ".cn" : ""}`;
  const pacer = new RequestPacer(options.pace ?? {});
  const keyQuota = new KeyQuotaHold(options.resourceQuotaHoldMs ?? 300_000, (event) => {
    try {
      options.onResourceQuota?.(account === undefined ? event : { ...event, account });
    } catch {
      // Observers never break the work.
    }
  });

  function notify(event: KmsRequestEvent): void {
    try {
      options.onRequest?.(event);
    } catch {
      // Observers never break the work.
    }
  }

  /** `quotaRegion`: where a resource quota would bind (ReplicateKey: the replica's Region). */
  async function call<T>(
    operation: string,
    what: string,
    run: () => Promise<T>,
    quotaRegion = region,
  ): Promise<T> {
    await pacer.admit(operation);
    const started = performance.now();
    try {
      const result = await run();
      notify({ region, account, operation, outcome: "success", durationMs: performance.now() - started });
      return result;
    } catch (error) {
      // The account's credentials could not be had (its role refused, STS away): that error says so itself.
      const mapped = isMigrationError(error)
        ? error
        : mapKmsError(error, operation, `${operation} (${what}, ${place})`, quotaRegion, endpoint);
      notify({
        region,
        account,
        operation,
        outcome: mapped.kind === "throttled" ? "throttled" : "error",
        durationMs: performance.now() - started,
        errorName: awsErrorName(error),
      });
      throw mapped;
    }
  }

  return {
    region,
    createKey: (input) =>
      keyQuota.guard("CreateKey", region, `a ${input.keySpec} key`, call, async () => {
        const out = await sendOnceClient.send(
          new CreateKeyCommand({
            Origin: "EXTERNAL",
            KeySpec: input.keySpec,
            KeyUsage: input.keyUsage,
            Description: input.description,
            MultiRegion: input.multiRegion,
            Policy: input.policy,
            Tags: Object.entries(input.tags).map(([TagKey, TagValue]) => ({ TagKey, TagValue })),
          }),
        );
        return keyInfo(out.KeyMetadata);
      }),

    describeKey: async (keyIdOrAlias) => {
      try {
        return await call("DescribeKey", `key ${keyIdOrAlias}`, async () =>
          keyInfo((await client.send(new DescribeKeyCommand({ KeyId: keyIdOrAlias }))).KeyMetadata),
        );
      } catch (error) {
        if ((error as { details?: { awsError?: string } }).details?.awsError === "NotFoundException")
          return undefined;
        throw error;
      }
    },

    listResourceTags: (keyId) =>
      call("ListResourceTags", `key ${keyId}`, async () => {
        const tags: Record<string, string> = {};
        let marker: string | undefined;
        do {
          const page = await client.send(
            new ListResourceTagsCommand({ KeyId: keyId, Limit: 50, Marker: marker }),
          );
          for (const tag of page.Tags ?? []) if (tag.TagKey) tags[tag.TagKey] = tag.TagValue ?? "";
          marker = page.Truncated ? page.NextMarker : undefined;
        } while (marker);
        return tags;
      }),

    findKeysByTag: (tagKey, tagValue) =>
      call("GetResources", `KMS keys tagged ${tagKey}=${tagValue}`, () =>
        findKmsKeysByTag(tagging, tagKey, tagValue),
      ),

    createAlias: (aliasName, keyId) =>
      call("CreateAlias", `${aliasName} -> ${keyId}`, async () => {
        await client.send(new CreateAliasCommand({ AliasName: aliasName, TargetKeyId: keyId }));
      }),

    getParametersForImport: (keyId, algorithm, wrappingKeySpec) =>
      call("GetParametersForImport", `key ${keyId}`, async () => {
        const out = await client.send(
          new GetParametersForImportCommand({
            KeyId: keyId,
            WrappingAlgorithm: algorithm,
            WrappingKeySpec: wrappingKeySpec,
          }),
        );
        return {
          keyId,
          wrappingAlgorithm: algorithm,
          wrappingKeySpec,
          wrappingPublicKeyDer: Buffer.from(required(out.PublicKey, "GetParametersForImport", "PublicKey")),
          importToken: Buffer.from(required(out.ImportToken, "GetParametersForImport", "ImportToken")),
          validTo: required(out.ParametersValidTo, "GetParametersForImport", "ParametersValidTo"),
        };
      }),

    importKeyMaterial: (input) =>
      call("ImportKeyMaterial", `key ${input.keyId}`, async () => {
        // Asymmetric, HMAC and multi-Region keys take none of ImportType/KeyMaterialId/KeyMaterialDescription.
        await client.send(
          new ImportKeyMaterialCommand({
            KeyId: input.keyId,
            ImportToken: input.importToken,
            EncryptedKeyMaterial: input.encryptedKeyMaterial,
            ...(input.validTo
              ? { ExpirationModel: "KEY_MATERIAL_EXPIRES", ValidTo: input.validTo }
              : { ExpirationModel: "KEY_MATERIAL_DOES_NOT_EXPIRE" }),
          }),
        );
      }),

    deleteImportedKeyMaterial: (keyId) =>
      call("DeleteImportedKeyMaterial", `key ${keyId}`, async () => {
        await client.send(new DeleteImportedKeyMaterialCommand({ KeyId: keyId }));
      }),

    scheduleKeyDeletion: (keyId, days) =>
      call("ScheduleKeyDeletion", `key ${keyId}`, async () => {
        const out = await client.send(
          new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: days }),
        );
        return out.DeletionDate;
      }),

    replicateKey: (keyId, replicaRegion, input) =>
      keyQuota.guard("ReplicateKey", replicaRegion, `key ${keyId} to ${replicaRegion}`, call, async () => {
        const out = await client.send(
          new ReplicateKeyCommand({
            KeyId: keyId,
            ReplicaRegion: replicaRegion,
            Description: input.description,
            Policy: input.policy,
            Tags: Object.entries(input.tags).map(([TagKey, TagValue]) => ({ TagKey, TagValue })),
          }),
        );
        return keyInfo(out.ReplicaKeyMetadata);
      }),

    getPublicKey: (keyId) =>
      call("GetPublicKey", `key ${keyId}`, async () =>
        Buffer.from(
          required(
            (await client.send(new GetPublicKeyCommand({ KeyId: keyId }))).PublicKey,
            "GetPublicKey",
            "PublicKey",
          ),
        ),
      ),

    sign: (keyId, message, algorithm, messageType = "RAW") =>
      call("Sign", `key ${keyId}`, async () => {
        const out = await client.send(
          new SignCommand({
            KeyId: keyId,
            Message: message,
            MessageType: messageType,
            SigningAlgorithm: algorithm as SigningAlgorithmSpec,
          }),
        );
        return Buffer.from(required(out.Signature, "Sign", "Signature"));
      }),

    encrypt: (keyId, plaintext, algorithm) =>
      call("Encrypt", `key ${keyId}`, async () => {
        const out = await client.send(
          new EncryptCommand({
            KeyId: keyId,
            Plaintext: plaintext,
            EncryptionAlgorithm: algorithm as EncryptionAlgorithmSpec | undefined,
          }),
        );
        return Buffer.from(required(out.CiphertextBlob, "Encrypt", "CiphertextBlob"));
      }),

    decrypt: (keyId, ciphertext, algorithm) =>
      call("Decrypt", `key ${keyId}`, async () => {
        const out = await client.send(
          new DecryptCommand({
            KeyId: keyId,
            CiphertextBlob: ciphertext,
            EncryptionAlgorithm: algorithm as EncryptionAlgorithmSpec | undefined,
          }),
        );
        return Buffer.from(required(out.Plaintext, "Decrypt", "Plaintext"));
      }),

    generateMac: (keyId, message, algorithm) =>
      call("GenerateMac", `key ${keyId}`, async () => {
        const out = await client.send(
          new GenerateMacCommand({
            KeyId: keyId,
            Message: message,
            MacAlgorithm: algorithm as MacAlgorithmSpec,
          }),
        );
        return Buffer.from(required(out.Mac, "GenerateMac", "Mac"));
      }),

    deriveSharedSecret: (keyId, peerPublicKeyDer) =>
      call("DeriveSharedSecret", `key ${keyId}`, async () => {
        const out = await client.send(
          new DeriveSharedSecretCommand({
            KeyId: keyId,
            KeyAgreementAlgorithm: "ECDH",
            PublicKey: peerPublicKeyDer,
          }),
        );
        return Buffer.from(required(out.SharedSecret, "DeriveSharedSecret", "SharedSecret"));
      }),

    close: () => {
      client.destroy();
      sendOnceClient.destroy();
      tagging.destroy();
    },
  };
}
