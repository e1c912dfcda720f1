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

/** Edit distance of two names (case-insensitive), for "did you mean". */
function distance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  let previous = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const row = [i];
    for (let j = 1; j <= y.length; j++)
      row[j] = Math.min(
        previous[j]! + 1,
        row[j - 1]! + 1,
        previous[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1),
      );
    previous = row;
  }
  return previous[y.length]!;
}

/** The known name closest to `name`: the same letters in another case first, else the fewest edits. */
export function closestName(name: string, known: readonly string[]): string | undefined {
  return [...known].sort((a, b) => distance(name, a) - distance(name, b))[0];
}

/**
 * Parses `Op=rps,Op=rps` into a quota table. Returns an error message (naming the bad entry) or the table.
 * An operation not in `known` is refused with the closest known name: a quota raised for
 * `GetParametersforImport` (one letter's case off) would otherwise never be used. @defaultValue known: the
 * operations of DEFAULT_KMS_QUOTAS
 */
export function parseQuotaList(
  text: string,
  known: readonly string[] = Object.keys(DEFAULT_KMS_QUOTAS),
): KmsQuotas | string {
  const quotas: KmsQuotas = {};
  for (const entry of text
    .split(",")
    .map((part) => part.trim())
    .filter(Boolean)) {
    const match = /^([A-Za-z]+)=(\d+(?:\.\d+)?)$/.exec(entry);
    if (!match || !(Number(match[2]) > 0) || !Number.isFinite(Number(match[2])))
      return `"${entry}" is not Operation=requestsPerSecond (a positive number)`;
    const operation = match[1]!;
    if (!known.includes(operation))
      return `"${entry}": ${operation} is not an operation this quota applies to (did you mean ${closestName(operation, known)}?); known: ${known.join(", ")}`;
    quotas[operation] = Number(match[2]);
  }
  return quotas;
}
