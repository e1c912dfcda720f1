/**
 * AWS KMS request quotas per account and Region (requests per second, adjustable by AWS support), for the
 * operations the pipeline calls (AWS KMS Developer Guide, Request quotas). Sign/Verify/Encrypt/Decrypt and
 * GenerateMac share a pool in AWS; each is listed at the pool's size.
 */
export const DEFAULT_KMS_QUOTAS = {
  CreateKey: 5,
  GetParametersForImport: 1,
  ImportKeyMaterial: 15,
  DeleteImportedKeyMaterial: 15,
  CreateAlias: 5,
  TagResource: 10,
  ScheduleKeyDeletion: 15,
  ReplicateKey: 5,
  DescribeKey: 2000,
  ListAliases: 100,
  ListResourceTags: 100,
  ListKeys: 100,
  GetPublicKey: 2000,
  Sign: 1000,
  Verify: 1000,
  Encrypt: 1000,
  Decrypt: 1000,
  GenerateMac: 1000,
  VerifyMac: 1000,
} as const satisfies Record<string, number>;

export type KmsOperationName = keyof typeof DEFAULT_KMS_QUOTAS;

export type KmsQuotas = Record<string, number>;

/**
 * Parses `Op=rps,Op=rps` into a quota table. Returns an error message (naming the bad entry) or the table.
 * Unknown operation names are accepted so newer operations can be limited without a release.
 */
export function parseQuotaList(text: string): KmsQuotas | string {
  const quotas: KmsQuotas = {};
  for (const entry of text
    .split(",")
    .map((part) => part.trim())
    .filter(Boolean)) {
    const match = /^([A-Za-z]+)=(\d+(?:\.\d+)?)$/.exec(entry);
    if (!match || Number(match[2]) <= 0)
      return `"${entry}" is not Operation=requestsPerSecond (a positive number)`;
    quotas[match[1]!] = Number(match[2]);
  }
  return quotas;
}
