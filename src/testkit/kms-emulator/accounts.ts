import { randomBytes } from "node:crypto";
import { KeyStore } from "./key-store.js";
import type { ResolvedOptions } from "./options.js";
import { type EmulatorRole, ROLE_ARN } from "./roles.js";
import type { KnownCredential } from "./sigv4.js";
import type { TagIndex } from "./tag-index.js";
import { prepareTagging } from "./tagging-setup.js";

/** One account's KMS: its keys and aliases, and its tag index. */
export interface AccountState {
  store: KeyStore;
  tagIndex: TagIndex;
}

interface TemporaryCredential extends KnownCredential {
  sessionToken: string;
  expiresAt: number;
  account: string;
  assumedRoleArn: string;
  assumedRoleId: string;
}

/** What AssumeRole answers, or why it refuses (the STS error code, HTTP status and message). */
export type AssumeRoleOutcome =
  | {
      accessKeyId: string;
      secretAccessKey: string;
      sessionToken: string;
      expiration: Date;
      assumedRoleArn: string;
      assumedRoleId: string;
    }
  | { error: string; status: number; message: string };

const SESSION_NAME = /^[\w+=,.@-]{2,64}$/;
const EXTERNAL_ID = /^[\w+=,.@:/-]{2,1224}$/;

const alphanumeric = (length: number) =>
  [...randomBytes(length)].map((byte) => "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[byte % 32]).join("");

/**
 * The AWS accounts the emulator serves. The long-term keys act in the emulator's own account; STS AssumeRole
 * of a configured role returns temporary credentials that act in the role's account. Each account has its own
 * keys, aliases, tags and tag index (made when first used), and the server keys quotas by account and Region,
 * as AWS does (AWS KMS Developer Guide, "Quotas": each quota is calculated independently for each Region of
 * each account).
 */
export class EmulatorAccounts {
  readonly #accounts = new Map<string, AccountState>();
  readonly #temporary = new Map<string, TemporaryCredential>();
  readonly #roles: Map<string, EmulatorRole>;

  constructor(
    readonly homeAccountId: string,
    home: AccountState,
    private readonly options: ResolvedOptions,
    private readonly longTerm: ReadonlyMap<string, string>,
    private readonly now: () => number = Date.now,
    /** The clock of key state (tests may jump it; credentials keep the host's time). */
    private readonly keyStateNow: () => number = Date.now,
  ) {
    this.#accounts.set(homeAccountId, home);
    this.#roles = new Map(options.roles.map((role) => [role.roleArn, role]));
  }

  /** An account's state, made (empty, seeded as options say) when first used. */
  account(accountId: string): AccountState {
    let state = this.#accounts.get(accountId);
    if (!state) {
      const store = new KeyStore(accountId, this.keyStateNow);
      store.consistencyDelayMs = this.options.consistencyDelayMs;
      store.random = this.options.consistencyRandom;
      state = { store, tagIndex: prepareTagging(store, this.options) };
      this.#accounts.set(accountId, state);
    }
    return state;
  }

  /** Accounts that hold state, the emulator's own first. */
  accountIds(): string[] {
    return [...this.#accounts.keys()];
  }

  /** For the SigV4 check: a long-term key (the home account) or live temporary credentials. */
  lookup = (accessKeyId: string): KnownCredential | undefined => {
    const secret = this.longTerm.get(accessKeyId);
    if (secret !== undefined) return { secret, account: this.homeAccountId };
    return this.#temporary.get(accessKeyId);
  };

  /** The identity behind an access key, for GetCallerIdentity: an assumed role's, or undefined for a long-term key. */
  assumedRole(accessKeyId: string): { account: string; arn: string; userId: string } | undefined {
    const temporary = this.#temporary.get(accessKeyId);
    if (!temporary) return undefined;
    return { account: temporary.account, arn: temporary.assumedRoleArn, userId: temporary.assumedRoleId };
  }

  /**
   * STS AssumeRole (AWS Security Token Service API Reference, AssumeRole): RoleSessionName of 2-64 characters
   * `[\w+=,.@-]`, ExternalId of 2-1224 `[\w+=,.@:/-]`, DurationSeconds from 900 to the role's
   * MaxSessionDuration (default 3600 s). A role that does not exist, a caller its trust policy does not allow
   * or a wrong or missing external id is AccessDenied, as AWS answers (it does not say which). Temporary
   * credentials may not assume a role here (role chaining is not emulated).
   */
  assumeRole(callerAccessKeyId: string, form: URLSearchParams): AssumeRoleOutcome {
    const roleArn = form.get("RoleArn") ?? "";
    const sessionName = form.get("RoleSessionName") ?? "";
    const externalId = form.get("ExternalId") ?? undefined;
    const durationText = form.get("DurationSeconds");
    const invalid = (message: string) => ({ error: "ValidationError", status: 400, message });
    if (!ROLE_ARN.test(roleArn))
      return invalid(`${roleArn || "(none)"} is invalid: RoleArn must be a role ARN`);
    if (!SESSION_NAME.test(sessionName))
      return invalid(
        "Value at 'roleSessionName' failed to satisfy constraint: 2-64 characters of [\\w+=,.@-]",
      );
    if (externalId !== undefined && !EXTERNAL_ID.test(externalId))
      return invalid(
        "Value at 'externalId' failed to satisfy constraint: 2-1224 characters of [\\w+=,.@:/-]",
      );
    const role = this.#roles.get(roleArn);
    const caller = this.lookup(callerAccessKeyId);
    const callerArn = `arn:aws:iam::${caller?.account ?? this.homeAccountId}:user/${callerAccessKeyId}`;
    if (!role || this.#temporary.has(callerAccessKeyId) || role.externalId !== externalId)
      return {
        error: "AccessDenied",
        status: 403,
        message: `User: ${callerArn} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`,
      };
    const maxSeconds = role.maxSessionDurationSeconds ?? 3600;
    const seconds = durationText === null ? 3600 : Number(durationText);
    if (!Number.isInteger(seconds) || seconds < 900 || seconds > Math.max(maxSeconds, 900))
      return invalid(
        `The requested DurationSeconds exceeds the MaxSessionDuration set for this role, or is below 900: ${durationText}`,
      );
    const [, account, roleName] = ROLE_ARN.exec(roleArn)!;
    const accessKeyId = `ASIA${alphanumeric(16)}`;
    const roleId = `AROA${alphanumeric(17)}`;
    const credential: TemporaryCredential = {
      secret: randomBytes(30).toString("base64"),
      sessionToken: randomBytes(96).toString("base64"),
      expiresAt: this.now() + seconds * 1000,
      account: account!,
      assumedRoleArn: `arn:aws:sts::${account}:assumed-role/${roleName}/${sessionName}`,
      assumedRoleId: `${roleId}:${sessionName}`,
    };
    this.#temporary.set(accessKeyId, credential);
    this.account(account!);
    return {
      accessKeyId,
      secretAccessKey: credential.secret,
      sessionToken: credential.sessionToken,
      expiration: new Date(credential.expiresAt),
      assumedRoleArn: credential.assumedRoleArn,
      assumedRoleId: credential.assumedRoleId,
    };
  }
}
