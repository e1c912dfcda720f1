/** One way a secret could show up in text. */
export interface SecretForm {
  secret: string;
  form: string;
  text: string;
}

/** Where a secret showed up. */
export interface SecretFinding {
  secret: string;
  form: string;
  where: string;
}

/**
 * The encodings a byte secret could appear in: hex (both cases, and 16-byte windows of it, so a truncated
 * dump still counts), base64 and base64url, also embedded at any alignment inside a larger base64 blob
 * (a PEM body or a base64 PKCS#8 holding the secret).
 */
export function byteSecretForms(secret: string, bytes: Buffer): SecretForm[] {
  const forms: SecretForm[] = [];
  const add = (form: string, text: string) => {
    if (text.length >= 16) forms.push({ secret, form, text });
  };
  add("hex", bytes.toString("hex"));
  add("HEX", bytes.toString("hex").toUpperCase());
  for (let offset = 0; offset + 16 <= bytes.length; offset += 8)
    add(`hex[${offset}..${offset + 16}]`, bytes.subarray(offset, offset + 16).toString("hex"));
  add("base64", bytes.toString("base64"));
  add("base64url", bytes.toString("base64url"));
  for (let shift = 0; shift < 3; shift++) {
    const padded = Buffer.concat([Buffer.alloc(shift), bytes]);
    // Characters that depend on the secret's bytes only: skip the first group when shifted, drop the last.
    const from = shift === 0 ? 0 : 4;
    add(`base64 at +${shift}`, padded.toString("base64").slice(from, -4));
    add(`base64url at +${shift}`, padded.toString("base64url").slice(from, -4));
  }
  return forms;
}

/** A secret that is text (a PIN): itself, and its hex and base64. */
export function textSecretForms(secret: string, text: string): SecretForm[] {
  return [
    { secret, form: "text", text },
    { secret, form: "hex", text: Buffer.from(text).toString("hex") },
    { secret, form: "base64", text: Buffer.from(text).toString("base64").replace(/=+$/, "") },
  ];
}

/** Every form of every secret found in any of the texts. */
export function findSecrets(
  texts: ReadonlyArray<{ where: string; text: string }>,
  forms: readonly SecretForm[],
): SecretFinding[] {
  const findings: SecretFinding[] = [];
  for (const { where, text } of texts)
    for (const form of forms)
      if (text.includes(form.text)) findings.push({ secret: form.secret, form: form.form, where });
  return findings;
}
