/**
 * The emulator's own AWS KMS request quotas, written from AWS's words and kept apart from the product's table
 * (src/shared/kms-quotas.ts): if both read the same mistake, every test passes. Sources: AWS KMS Developer
 * Guide, "Request quotas" (requests-per-second): "Request quotas for each AWS KMS API operation", "Applying
 * request quotas" ("Each request quota is calculated independently") and "Shared quotas for cryptographic
 * operations" (the cryptographic operations share one quota per KMS key type, "calculated independently" of
 * each other and of the other operations); and the Resource Groups Tagging API's GetResources rate (see
 * operations/tagging.ts). Where AWS's figure varies by Region or was vague, the smallest one is used.
 */

/** Requests per second for operations with a quota of their own (the per-operation table). */
export const AWS_OPERATION_QUOTAS: Readonly<Record<string, number>> = {
  CreateKey: 5,
  CreateAlias: 5,
  GetParametersForImport: 1,
  ImportKeyMaterial: 15,
  DeleteImportedKeyMaterial: 15,
  TagResource: 10,
  UntagResource: 5,
  ScheduleKeyDeletion: 15,
  CancelKeyDeletion: 5,
  ReplicateKey: 5,
  DescribeKey: 2000,
  ListAliases: 100,
  ListResourceTags: 100,
  ListKeys: 100,
};

/**
 * The shared pools of "Shared quotas for cryptographic operations": which pool a request draws from depends on
 * the type of its KMS key, so Sign and Verify on RSA keys together cannot exceed the RSA pool. Sizes: the
 * symmetric pool's smallest Regional figure (5,500); the asymmetric pools at the figures the guide's examples
 * give (500 RSA, 300 ECC), stricter than the larger current defaults; HMAC, whose figure we could not confirm,
 * at the RSA pool's 500.
 */
export const AWS_SHARED_POOLS = {
  SymmetricCryptography: 5500,
  RsaCryptography: 500,
  EccCryptography: 300,
  HmacCryptography: 500,
} as const satisfies Record<string, number>;

export type SharedPool = keyof typeof AWS_SHARED_POOLS;

/** The operations each pool meters (GetPublicKey counts against the asymmetric pools). */
const POOL_OPERATIONS: Readonly<Record<SharedPool, readonly string[]>> = {
  SymmetricCryptography: [
    "Encrypt",
    "Decrypt",
    "ReEncrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateRandom",
  ],
  RsaCryptography: ["Encrypt", "Decrypt", "Sign", "Verify", "GetPublicKey"],
  EccCryptography: ["Sign", "Verify", "GetPublicKey", "DeriveSharedSecret"],
  HmacCryptography: ["GenerateMac", "VerifyMac"],
};

/** Every name a quota may be given for: the per-operation table, the pooled operations and the pools. */
export function quotaNames(operations: readonly string[]): string[] {
  return [
    ...new Set([...operations, ...Object.keys(AWS_OPERATION_QUOTAS), ...Object.keys(AWS_SHARED_POOLS)]),
  ];
}

/**
 * The pool a request draws from, from its operation and its key's KeySpec (undefined: none, e.g. a
 * management operation, or a key that was not found and will be refused anyway). GenerateRandom takes no key
 * and draws from the symmetric pool.
 */
export function sharedPoolFor(operation: string, keySpec: string | undefined): SharedPool | undefined {
  let pool: SharedPool | undefined;
  if (operation === "GenerateRandom") pool = "SymmetricCryptography";
  else if (keySpec === undefined) return undefined;
  else if (keySpec === "SYMMETRIC_DEFAULT") pool = "SymmetricCryptography";
  else if (keySpec.startsWith("RSA_")) pool = "RsaCryptography";
  else if (keySpec.startsWith("HMAC_")) pool = "HmacCryptography";
  // ECC, SM2 and any other asymmetric family: the smallest asymmetric pool.
  else pool = "EccCryptography";
  return POOL_OPERATIONS[pool].includes(operation) ? pool : undefined;
}

/** Edit distance, case-insensitive (the emulator's own; the product has its own copy on purpose). */
function editDistance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  let row = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const next = [i];
    for (let j = 1; j <= y.length; j++)
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1));
    row = next;
  }
  return row[y.length]!;
}

/**
 * The known name closest to `name`: one that starts with it (a pool's name cut short, e.g. RsaCrypto), else
 * the fewest edits, case ignored.
 */
function closestQuotaName(name: string, known: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  const cost = (candidate: string) =>
    candidate.toLowerCase().startsWith(lower) ? -1 : editDistance(name, candidate);
  return [...known].sort((a, b) => cost(a) - cost(b))[0];
}

/**
 * Parses the emulator's `--quota Op=rps,Pool=rps` into overrides. Returns the table, or a message naming the
 * bad entry; an unknown name is refused with the closest known one (a raised quota under a misspelt name
 * would silently never apply).
 */
export function parseEmulatorQuotas(text: string, known: readonly string[]): Record<string, number> | string {
  const table: Record<string, number> = {};
  for (const entry of text.split(",").map((part) => part.trim())) {
    if (entry === "") continue;
    const [name = "", value = "", ...rest] = entry.split("=").map((part) => part.trim());
    const rate = Number(value);
    if (rest.length > 0 || !/^[A-Za-z]+$/.test(name) || value === "" || !Number.isFinite(rate) || rate <= 0)
      return `"${entry}" is not Name=requestsPerSecond with a positive number`;
    if (!known.includes(name)) {
      const closest = closestQuotaName(name, known);
      return `"${entry}": the emulator meters no ${name} (did you mean ${closest}?); known: ${known.join(", ")}`;
    }
    table[name] = rate;
  }
  return table;
}
