import { parse } from "csv-parse/sync";
import { readFileBoundedSync } from "./bounded-read.js";
import { ConfigError } from "./errors.js";
import { Secret } from "./secret.js";

/** How hsm2kms reaches one target account: the role it assumes there. */
export interface AccountRole {
  /** 12 digits. */
  account: string;
  /** `arn:aws:iam::<account>:role/<name>`: a role of that very account. */
  roleArn: string;
  /** The external id the role's trust policy asks for (not a secret to AWS, but not shown either). */
  externalId: Secret | undefined;
  /** RoleSessionName, seen in the account's CloudTrail. @defaultValue `hsm2kms` */
  sessionName: string;
}

/** The accounts of HSM2KMS_ACCOUNTS_FILE, by account id. */
export type AccountRoles = ReadonlyMap<string, AccountRole>;

/** A mapping of accounts is a few lines per account: 4 MiB is far above any real one. */
export const MAX_ACCOUNTS_FILE_BYTES = 4 * 1024 ** 2;

const HEADER = ["account", "role_arn", "external_id", "session_name"];
const ROLE_ARN = /^arn:aws:iam::(\d{12}):role\/(?:[\w+=,.@-]+\/)*[\w+=,.@-]{1,64}$/;
const SESSION_NAME = /^[\w+=,.@-]{2,64}$/;
const EXTERNAL_ID = /^[\w+=,.@:/-]{2,1224}$/;

/**
 * Parses HSM2KMS_ACCOUNTS_FILE: CSV with the header `account,role_arn` and optionally `external_id` and
 * `session_name` (in that order), one line per target account. Each line must name a 12-digit account, a role
 * of that same account (a role elsewhere would put keys in another account), an external id of 2-1224
 * characters `[\w+=,.@:/-]` and a session name of 2-64 `[\w+=,.@-]` (AWS Security Token Service API
 * Reference, AssumeRole). Throws a ConfigError naming the variable and the line; never repeats an external id.
 */
export function parseAccountsFile(text: string, source = "HSM2KMS_ACCOUNTS_FILE"): AccountRoles {
  const fail = (line: number, message: string): never => {
    throw new ConfigError(`${source}, line ${line}: ${message}`);
  };
  let records: Array<{ record: string[]; info: { lines: number } }>;
  try {
    records = parse(text, {
      relax_column_count: true,
      info: true,
      skip_empty_lines: true,
    }) as unknown as typeof records;
  } catch (error) {
    // csv-parse's messages can quote the file: only where it broke is kept.
    const line = (error as { lines?: number }).lines ?? 0;
    return fail(line, "not valid CSV; expected account,role_arn[,external_id[,session_name]] lines");
  }
  const header = (records[0]?.record ?? []).map((name) => name.trim());
  if (header.length < 2 || header.some((name, index) => name !== HEADER[index]))
    fail(
      1,
      `expected the header ${HEADER.slice(0, 2).join(",")} (optionally ,external_id then ,session_name)`,
    );
  const roles = new Map<string, AccountRole & { line: number }>();
  for (const { record, info } of records.slice(1)) {
    const line = info.lines;
    const cells = record.map((cell) => cell.trim());
    if (cells.length !== header.length)
      fail(line, `has ${cells.length} fields; expected ${header.length}, one per header column`);
    const [account = "", roleArn = "", externalId = "", sessionName = ""] = cells;
    if (!/^\d{12}$/.test(account))
      fail(line, "account is not 12 digits; expected an AWS account id such as 123456789012");
    const arn = ROLE_ARN.exec(roleArn);
    if (!arn) fail(line, `role_arn is not arn:aws:iam::<account>:role/<name> (account ${account})`);
    if (arn![1] !== account)
      fail(
        line,
        `role_arn is a role of account ${arn![1]}, not of ${account}; expected the role hsm2kms assumes in ${account}`,
      );
    if (externalId !== "" && !EXTERNAL_ID.test(externalId))
      fail(
        line,
        `external_id of account ${account} must be 2-1224 characters of letters, digits and +=,.@:/-`,
      );
    if (sessionName !== "" && !SESSION_NAME.test(sessionName))
      fail(line, `session_name of account ${account} must be 2-64 characters of letters, digits and +=,.@-`);
    const earlier = roles.get(account);
    if (earlier)
      fail(line, `account ${account} is already on line ${earlier.line}; expected each account once`);
    roles.set(account, {
      line,
      account,
      roleArn,
      externalId: externalId === "" ? undefined : new Secret(externalId),
      sessionName: sessionName || "hsm2kms",
    });
  }
  return new Map([...roles].map(([account, { line: _line, ...role }]) => [account, role]));
}

/** Reads and parses the file HSM2KMS_ACCOUNTS_FILE names (at most MAX_ACCOUNTS_FILE_BYTES). */
export function readAccountsFile(path: string): AccountRoles {
  const read = readFileBoundedSync(path, MAX_ACCOUNTS_FILE_BYTES, "an accounts file");
  if ("problem" in read)
    throw new ConfigError(
      `HSM2KMS_ACCOUNTS_FILE=${JSON.stringify(path)} ${read.problem}: expected a CSV file account,role_arn[,external_id[,session_name]]`,
    );
  return parseAccountsFile(read.bytes.toString("utf8"), `HSM2KMS_ACCOUNTS_FILE ${path}`);
}
