import { randomBytes } from "node:crypto";
import pkcs11js from "pkcs11js";
import { newKeyPairSync } from "../../../src/shared/crypto/key-pairs.js";
import { withTokenSession } from "../softhsm.js";
import { byteSecretForms, type SecretForm } from "./secrets.js";

const P256_OID = Buffer.from("06082a8648ce3d030107", "hex");

/** A key whose secret the test knows, created in the token (extractable) as if it had been there all along. */
export interface KnownKey {
  label: string;
  idHex: string;
  /** Every form of its secret parts that must never show up outside the HSM (and KMS). */
  forms: SecretForm[];
}

const jwkBytes = (value: string | undefined) => Buffer.from(value ?? "", "base64url");

/**
 * Creates an EC P-256 key pair, an RSA-2048 key pair, an AES-256 key and an HMAC-256 key with known material
 * in the token (C_CreateObject), all extractable, and returns the forms of their secrets: the PKCS#8 DER
 * (and so the PEM body), the EC scalar, the RSA private exponent, primes and CRT values, the raw secret bytes.
 */
export async function createKnownKeys(env: Record<string, string>, prefix: string): Promise<KnownKey[]> {
  const ec = newKeyPairSync({ type: "ec", namedCurve: "prime256v1" });
  const rsa = newKeyPairSync({ type: "rsa", modulusLength: 2048 });
  const ecJwk = ec.privateKey.export({ format: "jwk" });
  const rsaJwk = rsa.privateKey.export({ format: "jwk" });
  const aes = randomBytes(32);
  const hmac = randomBytes(32);
  const point = Buffer.concat([Buffer.from([4]), jwkBytes(ecJwk.x), jwkBytes(ecJwk.y)]);
  const keys = {
    ec: { label: `${prefix}-known-ec`, idHex: "c0ffee01" },
    rsa: { label: `${prefix}-known-rsa`, idHex: "c0ffee02" },
    aes: { label: `${prefix}-known-aes`, idHex: "c0ffee03" },
    hmac: { label: `${prefix}-known-hmac`, idHex: "c0ffee04" },
  };
  const names = (key: { label: string; idHex: string }) => [
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_LABEL, value: key.label },
    { type: pkcs11js.CKA_ID, value: Buffer.from(key.idHex, "hex") },
  ];
  const secretPart = [
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: true },
  ];
  await withTokenSession(env, (pkcs11, session) => {
    const create = (template: pkcs11js.Template) => pkcs11.C_CreateObject(session, template);
    create([
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_EC },
      ...names(keys.ec),
      ...secretPart,
      { type: pkcs11js.CKA_EC_PARAMS, value: P256_OID },
      { type: pkcs11js.CKA_VALUE, value: jwkBytes(ecJwk.d) },
      { type: pkcs11js.CKA_SIGN, value: true },
    ]);
    create([
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_EC },
      ...names(keys.ec),
      { type: pkcs11js.CKA_EC_PARAMS, value: P256_OID },
      { type: pkcs11js.CKA_EC_POINT, value: Buffer.concat([Buffer.from([4, point.length]), point]) },
      { type: pkcs11js.CKA_VERIFY, value: true },
    ]);
    create([
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_RSA },
      ...names(keys.rsa),
      ...secretPart,
      { type: pkcs11js.CKA_MODULUS, value: jwkBytes(rsaJwk.n) },
      { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: jwkBytes(rsaJwk.e) },
      { type: pkcs11js.CKA_PRIVATE_EXPONENT, value: jwkBytes(rsaJwk.d) },
      { type: pkcs11js.CKA_PRIME_1, value: jwkBytes(rsaJwk.p) },
      { type: pkcs11js.CKA_PRIME_2, value: jwkBytes(rsaJwk.q) },
      { type: pkcs11js.CKA_EXPONENT_1, value: jwkBytes(rsaJwk.dp) },
      { type: pkcs11js.CKA_EXPONENT_2, value: jwkBytes(rsaJwk.dq) },
      { type: pkcs11js.CKA_COEFFICIENT, value: jwkBytes(rsaJwk.qi) },
      { type: pkcs11js.CKA_SIGN, value: true },
    ]);
    create([
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_RSA },
      ...names(keys.rsa),
      { type: pkcs11js.CKA_MODULUS, value: jwkBytes(rsaJwk.n) },
      { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: jwkBytes(rsaJwk.e) },
      { type: pkcs11js.CKA_VERIFY, value: true },
    ]);
    create([
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
      ...names(keys.aes),
      ...secretPart,
      { type: pkcs11js.CKA_VALUE, value: aes },
      { type: pkcs11js.CKA_ENCRYPT, value: true },
      { type: pkcs11js.CKA_DECRYPT, value: true },
    ]);
    create([
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_GENERIC_SECRET },
      ...names(keys.hmac),
      ...secretPart,
      { type: pkcs11js.CKA_VALUE, value: hmac },
      { type: pkcs11js.CKA_SIGN, value: true },
      { type: pkcs11js.CKA_VERIFY, value: true },
    ]);
  });
  const pkcs8 = (key: typeof ec.privateKey) => key.export({ format: "der", type: "pkcs8" });
  const pemLines = (key: typeof ec.privateKey) =>
    String(key.export({ format: "pem", type: "pkcs8" }))
      .split("\n")
      .filter((line) => line.length >= 40 && !line.startsWith("-----"));
  const pemForms = (name: string, key: typeof ec.privateKey): SecretForm[] =>
    pemLines(key).map((text, line) => ({ secret: name, form: `PEM line ${line + 1}`, text }));
  return [
    {
      ...keys.ec,
      forms: [
        ...byteSecretForms("EC P-256 private scalar", jwkBytes(ecJwk.d)),
        ...byteSecretForms("EC P-256 PKCS#8", pkcs8(ec.privateKey)),
        ...pemForms("EC P-256 PEM", ec.privateKey),
      ],
    },
    {
      ...keys.rsa,
      forms: [
        ...byteSecretForms("RSA private exponent", jwkBytes(rsaJwk.d)),
        ...byteSecretForms("RSA prime p", jwkBytes(rsaJwk.p)),
        ...byteSecretForms("RSA prime q", jwkBytes(rsaJwk.q)),
        ...byteSecretForms("RSA CRT dp", jwkBytes(rsaJwk.dp)),
        ...byteSecretForms("RSA CRT qi", jwkBytes(rsaJwk.qi)),
        ...byteSecretForms("RSA PKCS#8", pkcs8(rsa.privateKey)),
        ...pemForms("RSA PEM", rsa.privateKey),
      ],
    },
    { ...keys.aes, forms: byteSecretForms("AES-256 key", aes) },
    { ...keys.hmac, forms: byteSecretForms("HMAC-256 key", hmac) },
  ];
}
