import { AccountCredentials, credentialsForAccount } from "../account-credentials.js";
import type { AccountRoles } from "../accounts.js";
import type { KmsClientSettings } from "./kms-client.js";
import { type KmsPortCache, kmsPortCache } from "./port-cache.js";

/** What reaching KMS in several accounts needs from the configuration. */
export interface AccountPortSettings {
  /** HSM2KMS_ACCOUNTS_FILE: the role assumed in each other account. */
  accounts: AccountRoles | undefined;
  /** AWS_REGION: where STS is asked. @defaultValue us-east-1 */
  region: string | undefined;
  /** HSM2KMS_KMS_ENDPOINT: KMS (and STS, the sandbox's emulator answers both) there. */
  kmsEndpoint: string | undefined;
  /** Credentials of the caller's own account; default: the SDK's chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined;
}

/**
 * KMS ports per account and Region for a command (audit, keymap, renew, abandon): the caller's own
 * credentials in its own account, an assumed role's (cached, refreshed before they expire) in another, and
 * a port that fails with ACCOUNT_NOT_CONFIGURED for an account HSM2KMS_ACCOUNTS_FILE does not name.
 * `close()` closes the ports and the STS client.
 */
export function accountPortCache<Port extends { close(): void }>(
  settings: AccountPortSettings,
  createPort: (settings: KmsClientSettings & { account: string | undefined }) => Port,
): KmsPortCache<Port> {
  let credentials: AccountCredentials | undefined;
  const cache = kmsPortCache((region, account) => {
    if (account !== undefined && settings.accounts && !credentials)
      credentials = new AccountCredentials(settings.accounts, {
        region: settings.region ?? "us-east-1",
        endpoint: settings.kmsEndpoint,
        baseCredentials: settings.credentials,
      });
    return createPort({
      region,
      account,
      endpoint: settings.kmsEndpoint,
      credentials: credentialsForAccount(credentials, account, settings.credentials),
    });
  });
  return {
    portFor: cache.portFor,
    close() {
      cache.close();
      credentials?.destroy();
      credentials = undefined;
    },
  };
}
