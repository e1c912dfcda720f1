/** A role the emulator lets callers assume: only these exist (AWS refuses a role whose trust policy does not name the caller). */
export interface EmulatorRole {
  /** `arn:aws:iam::<12 digits>:role/<name>`; the account it names is where its credentials act. */
  roleArn: string;
  /** The external id its trust policy requires (sts:ExternalId condition); absent: none. */
  externalId?: string | undefined;
  /** The role's MaxSessionDuration in seconds. @defaultValue 3600 (IAM's default) */
  maxSessionDurationSeconds?: number | undefined;
}

/** A role ARN: its account (group 1) and name (group 2), after an optional path. */
export const ROLE_ARN = /^arn:aws:iam::(\d{12}):role\/(?:[\w+=,.@-]+\/)*([\w+=,.@-]{1,64})$/;
