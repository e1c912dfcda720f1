import { AssumeRoleCommand, STSClient } from "@aws-sdk/client-sts";
import type { AccountRole, AccountRoles } from "./accounts.js";
import { fatal, isMigrationError, retryable } from "./errors.js";

/** Temporary credentials of one account, as the AWS SDK takes them. */
export interface AccountCredentialIdentity {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
}

export interface AccountCredentialsOptions {
  /** Region of the STS endpoint. */
  region: string;
  /** STS endpoint override (the KMS emulator answers STS on its own endpoint). */
  endpoint?: string | undefined;
  /** Credentials hsm2kms assumes the roles with. @defaultValue the SDK's default chain */
  baseCredentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined;
  /** Session length asked of AssumeRole. @defaultValue 3600 (IAM's default MaxSessionDuration) */
  durationSeconds?: number;
  /**
   * Credentials with less than this left are replaced before use, so that no KMS call of a long phase (or
   * its retry) starts with credentials about to expire. @defaultValue 5 minutes
   */
  refreshMarginMs?: number;
  now?: () => number;
}

/** STS errors that no retry cures: the role, its trust policy or the external id must change. */
const REFUSALS = new Set([
  "AccessDenied",
  "AccessDeniedException",
  "ValidationError",
  "MalformedPolicyDocument",
]);

/**
 * Temporary credentials per target account, from STS AssumeRole of the role HSM2KMS_ACCOUNTS_FILE names:
 * fetched on first use, shared by every caller while fresh (one AssumeRole in flight per account), and
 * replaced `refreshMarginMs` before they expire. An account the file does not list has no provider: it is
 * reached with the base credentials. A refusal fails only that account's keys (ACCOUNT_ROLE_REFUSED, naming
 * the account and role); an STS outage is retryable.
 */
export class AccountCredentials {
  readonly #client: STSClient;
  readonly #cache = new Map<string, Promise<AccountCredentialIdentity>>();
  readonly #durationSeconds: number;
  readonly #marginMs: number;
  readonly #now: () => number;

  constructor(
    private readonly roles: AccountRoles,
    options: AccountCredentialsOptions,
  ) {
    this.#client = new STSClient({
      region: options.region,
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      ...(options.baseCredentials ? { credentials: options.baseCredentials } : {}),
      maxAttempts: 3,
    });
    this.#durationSeconds = options.durationSeconds ?? 3600;
    this.#marginMs = options.refreshMarginMs ?? 5 * 60_000;
    this.#now = options.now ?? Date.now;
  }

  /** A credential provider for the AWS SDK (`new KMSClient({ credentials })`), or undefined for the caller's own. */
  provider(account: string): (() => Promise<AccountCredentialIdentity>) | undefined {
    const role = this.roles.get(account);
    if (!role) return undefined;
    return () => this.credentials(role);
  }

  /** Fresh credentials for the role's account (cached until `refreshMarginMs` before they expire). */
  async credentials(role: AccountRole): Promise<AccountCredentialIdentity> {
    const cached = this.#cache.get(role.account);
    if (cached) {
      const identity = await cached.catch(() => undefined);
      if (identity && identity.expiration.getTime() - this.#now() > this.#marginMs) return identity;
      if (this.#cache.get(role.account) !== cached) return this.credentials(role);
    }
    const fetching = this.#assume(role);
    this.#cache.set(role.account, fetching);
    fetching.catch(() => {
      if (this.#cache.get(role.account) === fetching) this.#cache.delete(role.account);
    });
    return fetching;
  }

  destroy(): void {
    this.#client.destroy();
  }

  async #assume(role: AccountRole): Promise<AccountCredentialIdentity> {
    try {
      const answer = await this.#client.send(
        new AssumeRoleCommand({
          RoleArn: role.roleArn,
          RoleSessionName: role.sessionName,
          ExternalId: role.externalId?.reveal(),
          DurationSeconds: this.#durationSeconds,
        }),
      );
      const c = answer.Credentials;
      if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !c.Expiration)
        throw retryable(
          "ACCOUNT_ROLE_UNAVAILABLE",
          `account ${role.account}: STS AssumeRole of ${role.roleArn} answered without credentials; trying again`,
        );
      return {
        accessKeyId: c.AccessKeyId,
        secretAccessKey: c.SecretAccessKey,
        sessionToken: c.SessionToken,
        expiration: c.Expiration,
      };
    } catch (error) {
      if (isMigrationError(error)) throw error;
      const name = (error as { name?: string }).name ?? "";
      if (REFUSALS.has(name))
        throw fatal(
          "ACCOUNT_ROLE_REFUSED",
          `account ${role.account}: STS refused AssumeRole of ${role.roleArn} (${name}); check the role's trust policy names hsm2kms's principal (deploy/iam/target-account-trust.json), the external id and HSM2KMS_ACCOUNTS_FILE, then hsm2kms retry --failed`,
          { cause: error },
        );
      throw retryable(
        "ACCOUNT_ROLE_UNAVAILABLE",
        `account ${role.account}: STS AssumeRole of ${role.roleArn} failed (${name || (error as Error).message}); trying again`,
        { cause: error },
      );
    }
  }
}

/**
 * The credentials a KMS client of `account` signs with: `base` (undefined: the SDK's chain) for the caller's
 * own account, else the account's assumed role. An account `accounts` cannot reach (HSM2KMS_ACCOUNTS_FILE
 * does not list it on this worker) gets a provider that fails every call of that account's keys, and only
 * those, with ACCOUNT_NOT_CONFIGURED: never the caller's own credentials, which would put its keys elsewhere.
 */
export function credentialsForAccount<Base>(
  accounts: AccountCredentials | undefined,
  account: string | undefined,
  base: Base,
): Base | (() => Promise<AccountCredentialIdentity>) {
  if (account === undefined) return base;
  const provider = accounts?.provider(account);
  if (provider) return provider;
  return async () => {
    throw fatal(
      "ACCOUNT_NOT_CONFIGURED",
      `account ${account}: this worker's HSM2KMS_ACCOUNTS_FILE ${accounts ? "does not name it" : "is not set"}; give every worker the file enqueue was given (a line ${account},<role ARN>), then hsm2kms retry --failed`,
    );
  };
}
