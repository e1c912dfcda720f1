import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import { KmsError } from "./errors.js";

const VERSION = 0x02;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** What an import token binds: the key (in its Region), the wrapping key and the algorithm. */
export interface ImportTokenClaims {
  tokenId: string;
  region: string;
  keyId: string;
  wrappingAlgorithm: string;
  wrappingKeySpec: string;
  /** SHA-256 (hex) of the wrapping public key's DER. */
  wrappingKeySha256: string;
  expiresAt: number;
}

/**
 * Opaque import tokens, as KMS's are to its callers: `version | iv | AES-256-GCM(claims) | tag` under a key
 * derived from the emulator's secret (persisted with the state). Nobody but this emulator can read or forge
 * the claims, and the claims still tell an expired token from a forged one after its record was purged.
 */
export class ImportTokenCodec {
  private readonly key: Buffer;

  constructor(readonly secret: Buffer = randomBytes(32)) {
    this.key = Buffer.from(hkdfSync("sha256", secret, Buffer.alloc(0), "kms-emulator import token", 32));
  }

  encode(claims: ImportTokenClaims): Buffer {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.key, iv);
    cipher.setAAD(Buffer.from([VERSION]));
    const body = Buffer.concat([cipher.update(JSON.stringify(claims), "utf8"), cipher.final()]);
    return Buffer.concat([Buffer.from([VERSION]), iv, body, cipher.getAuthTag()]);
  }

  /** The token's claims; InvalidImportTokenException when this emulator did not issue it. */
  decode(token: Buffer): ImportTokenClaims {
    const invalid = new KmsError("InvalidImportTokenException", "Import token is invalid or malformed.");
    if (token.length <= 1 + IV_BYTES + TAG_BYTES || token[0] !== VERSION) throw invalid;
    try {
      const decipher = createDecipheriv("aes-256-gcm", this.key, token.subarray(1, 1 + IV_BYTES));
      decipher.setAAD(Buffer.from([VERSION]));
      decipher.setAuthTag(token.subarray(token.length - TAG_BYTES));
      const plain = Buffer.concat([
        decipher.update(token.subarray(1 + IV_BYTES, token.length - TAG_BYTES)),
        decipher.final(),
      ]);
      return JSON.parse(plain.toString("utf8")) as ImportTokenClaims;
    } catch {
      throw invalid;
    }
  }
}

export const newTokenId = () => randomBytes(16).toString("hex");
