import { sign, verify } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { newKeyPair, newKeyPairSync } from "../../src/shared/crypto/key-pairs.js";

const ROOT = join(import.meta.dirname, "../..");

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(".ts"))
    .map((entry) => relative(ROOT, join(entry.parentPath, entry.name)));
}

describe("newKeyPair", () => {
  it("makes RSA and EC pairs whose halves belong together", async () => {
    const rsa = newKeyPairSync({ type: "rsa", modulusLength: 2048 });
    expect(rsa.privateKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    const ec = await newKeyPair({ type: "ec", namedCurve: "secp384r1" });
    expect(ec.publicKey.asymmetricKeyDetails?.namedCurve).toBe("secp384r1");
    for (const pair of [rsa, ec]) {
      const message = Buffer.from("hsm2kms");
      expect(verify("sha256", message, pair.publicKey, sign("sha256", message, pair.privateKey))).toBe(true);
    }
  });

  it("is the only way KeyObjects are generated (crypto.generateKeyPair's can deadlock Node 20: key-pairs.ts)", () => {
    const offenders = ["src", "test", "bench"]
      .flatMap(sources)
      .filter((file) => !file.endsWith("key-pairs.ts") && !file.endsWith("key-pairs.test.ts"))
      .filter((file) => {
        const text = readFileSync(join(ROOT, file), "utf8");
        // Generating straight to DER (both encodings given) creates no KeyObject of the job's key: allowed.
        const calls = text.match(/generateKeyPair(Sync)?\(([^)]|\)(?!;))*?\)/gs) ?? [];
        const promisified = /promisify\(generateKeyPair\)/.test(text);
        return (
          promisified ||
          calls.some((call) => !(call.includes("privateKeyEncoding") || call.includes("...encoding")))
        );
      });
    expect(offenders).toEqual([]);
  });
});
