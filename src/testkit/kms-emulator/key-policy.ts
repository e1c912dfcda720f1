/**
 * The default key policy KMS gives a key created without one (AWS KMS Developer Guide, "Default key policy"):
 * the account's root principal may do everything, so IAM policies decide.
 */
export function defaultKeyPolicy(accountId: string): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Id: "key-default-1",
    Statement: [
      {
        Sid: "Enable IAM User Permissions",
        Effect: "Allow",
        Principal: { AWS: `arn:aws:iam::${accountId}:root` },
        Action: "kms:*",
        Resource: "*",
      },
    ],
  });
}
