/**
 * The Service Quotas names of the KMS request quotas a migration spends, by the operation hsm2kms counts
 * (AWS KMS Developer Guide, "Request quotas", table "Request quotas for each AWS KMS API operation"). An
 * increase is requested in Service Quotas > AWS Key Management Service, per account and Region.
 */
const SERVICE_QUOTA_NAMES: Record<string, string> = {
  CreateKey: "CreateKey request rate",
  CreateAlias: "CreateAlias request rate",
  GetParametersForImport: "GetParametersForImport request rate",
  ImportKeyMaterial: "ImportKeyMaterial request rate",
  ReplicateKey: "ReplicateKey request rate",
  // Sign paces the verify phase; KMS meters it in the shared pool of the key's type.
  Sign: "Cryptographic operations (RSA) request rate, or (ECC and SM2), or (symmetric) for HMAC and AES keys",
};

/** The Service Quotas quota to raise for `operation` (its own name when the table has none). */
export function serviceQuotaName(operation: string): string {
  return SERVICE_QUOTA_NAMES[operation] ?? `${operation} request rate`;
}
