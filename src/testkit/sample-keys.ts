import type { KeySpec, KeyUsage } from "../shared/key-specs.js";

/** How a sample key is generated in the HSM. */
export type SampleKeyKind =
  | { type: "ec"; curveOidDerHex: string }
  | { type: "rsa"; bits: number }
  | { type: "aes"; bytes: number }
  | { type: "hmac"; bytes: number };

export interface SampleKey {
  /** CKA_LABEL: the contract the demo, tests and manifests use. */
  label: string;
  /** CKA_ID as lower-case hex, distinct per key. */
  idHex: string;
  /** The KMS KeySpec describeKey must infer. */
  keySpec: KeySpec;
  defaultUsage: KeyUsage;
  kind: SampleKeyKind;
  /** @defaultValue true */
  extractable: boolean;
}

const ec = (label: string, idHex: string, keySpec: KeySpec, curveOidDerHex: string): SampleKey => ({
  label,
  idHex,
  keySpec,
  defaultUsage: "SIGN_VERIFY",
  kind: { type: "ec", curveOidDerHex },
  extractable: true,
});

const rsa = (label: string, idHex: string, bits: 2048 | 3072 | 4096, defaultUsage: KeyUsage): SampleKey => ({
  label,
  idHex,
  keySpec: `RSA_${bits}`,
  defaultUsage,
  kind: { type: "rsa", bits },
  extractable: true,
});

const hmac = (bits: 224 | 256 | 384 | 512, idHex: string): SampleKey => ({
  label: `sample-hmac-${bits}`,
  idHex,
  keySpec: `HMAC_${bits}`,
  defaultUsage: "GENERATE_VERIFY_MAC",
  kind: { type: "hmac", bytes: bits / 8 },
  extractable: true,
});

/** The sandbox token's sample keys, by name (= label). */
export const SAMPLE_KEYS = {
  "sample-ec-p256": ec("sample-ec-p256", "5a0001", "ECC_NIST_P256", "06082a8648ce3d030107"),
  "sample-ec-p384": ec("sample-ec-p384", "5a0002", "ECC_NIST_P384", "06052b81040022"),
  "sample-ec-p521": ec("sample-ec-p521", "5a0003", "ECC_NIST_P521", "06052b81040023"),
  "sample-ec-secp256k1": ec("sample-ec-secp256k1", "5a0004", "ECC_SECG_P256K1", "06052b8104000a"),
  "sample-rsa-2048": rsa("sample-rsa-2048", "5a0011", 2048, "SIGN_VERIFY"),
  "sample-rsa-3072": rsa("sample-rsa-3072", "5a0012", 3072, "SIGN_VERIFY"),
  "sample-rsa-4096": rsa("sample-rsa-4096", "5a0013", 4096, "SIGN_VERIFY"),
  "sample-rsa-2048-enc": rsa("sample-rsa-2048-enc", "5a0014", 2048, "ENCRYPT_DECRYPT"),
  "sample-aes-256": {
    label: "sample-aes-256",
    idHex: "5a0021",
    keySpec: "SYMMETRIC_DEFAULT",
    defaultUsage: "ENCRYPT_DECRYPT",
    kind: { type: "aes", bytes: 32 },
    extractable: true,
  },
  "sample-hmac-224": hmac(224, "5a0031"),
  "sample-hmac-256": hmac(256, "5a0032"),
  "sample-hmac-384": hmac(384, "5a0033"),
  "sample-hmac-512": hmac(512, "5a0034"),
  "sample-ec-p256-nonextractable": {
    ...ec("sample-ec-p256-nonextractable", "5a0041", "ECC_NIST_P256", "06082a8648ce3d030107"),
    extractable: false,
  },
} as const satisfies Record<string, SampleKey>;

export type SampleKeyName = keyof typeof SAMPLE_KEYS;

export const SAMPLE_KEY_NAMES = Object.keys(SAMPLE_KEYS) as SampleKeyName[];
