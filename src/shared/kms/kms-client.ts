import { KMSClient } from "@aws-sdk/client-kms";
import type {
  AwsCredentialIdentity,
  AwsCredentialIdentityProvider,
  RetryErrorInfo,
  RetryStrategyV2,
  RetryToken,
} from "@smithy/types";

/** How the SDK itself retries: transient and 5xx errors only, a few times, with jittered backoff. */
export interface SdkRetrySettings {
  /** Total attempts per request, the first included. @defaultValue 3 */
  maxAttempts?: number;
  /** Base delay of the exponential backoff. @defaultValue 100 */
  baseDelayMs?: number;
}

class RetryTokenImpl implements RetryToken {
  constructor(private readonly count: number) {}
  getRetryCount(): number {
    return this.count;
  }
  getRetryDelay(): number {
    return 0;
  }
}

/**
 * A retry strategy that never retries throttling: a ThrottlingException must reach the pipeline, which
 * pauses the whole queue (queue-level rate limit) instead of letting every request hammer KMS again.
 */
export function transientOnlyRetryStrategy(settings: SdkRetrySettings = {}): RetryStrategyV2 {
  const maxAttempts = settings.maxAttempts ?? 3;
  const baseDelayMs = settings.baseDelayMs ?? 100;
  return {
    async acquireInitialRetryToken() {
      return new RetryTokenImpl(0);
    },
    async refreshRetryTokenForRetry(token: RetryToken, info: RetryErrorInfo) {
      const retriable = info.errorType === "TRANSIENT" || info.errorType === "SERVER_ERROR";
      const next = token.getRetryCount() + 1;
      if (!retriable || next >= maxAttempts) throw new Error("no retry: not transient or attempts used up");
      const delay = Math.random() * baseDelayMs * 2 ** next;
      await new Promise((resolve) => setTimeout(resolve, delay));
      return new RetryTokenImpl(next);
    },
    recordSuccess() {},
  };
}

export interface KmsClientSettings extends SdkRetrySettings {
  region: string;
  /** Endpoint override, e.g. the sandbox KMS emulator. */
  endpoint?: string | undefined;
  /**
   * Explicit credentials, or a provider of them (another account's, from its assumed role); default: the SDK's
   * default provider chain.
   */
  credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider | undefined;
  /** Socket timeout per request. @defaultValue 30000 */
  requestTimeoutMs?: number;
}

/** A KMSClient for one Region with the pipeline's retry policy. */
export function createKmsClient(settings: KmsClientSettings): KMSClient {
  return new KMSClient({
    region: settings.region,
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    ...(settings.credentials ? { credentials: settings.credentials } : {}),
    retryStrategy: transientOnlyRetryStrategy(settings),
    requestHandler: { requestTimeout: settings.requestTimeoutMs ?? 30_000 },
  });
}
