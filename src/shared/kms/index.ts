export { createKmsAdapter, type KmsAdapterOptions } from "./kms-adapter.js";
export { createKmsClient, type KmsClientSettings, transientOnlyRetryStrategy } from "./kms-client.js";
export { awsErrorName, mapKmsError } from "./kms-errors.js";
export { type KmsPortCache, kmsPortCache } from "./port-cache.js";
export { type PacerClock, type RequestPace, RequestPacer } from "./request-pacer.js";
export { type KmsResourceQuota, resourceQuotaMessage, resourceQuotaOf } from "./resource-quotas.js";
export type * from "./types.js";
