import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { KmsError } from "./errors.js";

const MAGIC = Buffer.from("H2KT\x01", "latin1");
const MAC_BYTES = 32;

/** What an import token binds: the key (in its Region), the wrapping key and the algorithm. */
export interface ImportTokenClaims {
  tokenId: string;
  region: string;
  keyId: string;
  wrappingAlgorithm: string;
  wrappingKeySpec: string;
  expiresAt: number;
}

/**
 * Opaque import tokens: `magic | claims (JSON) | HMAC-SHA256(secret, magic | claims)`. The MAC proves the
 * token came from this emulator (the secret is persisted with the state); the claims let an expired token
 * be told apart from a forged one even after its record was purged.
 */
export class ImportTokenCodec {
  constructor(readonly secret: Buffer = randomBytes(32)) {}

  encode(claims: ImportTokenClaims): Buffer {
    const body = Buffer.concat([MAGIC, Buffer.from(JSON.stringify(claims), "utf8")]);
    return Buffer.concat([body, this.mac(body)]);
  }

  /** The token's claims; InvalidImportTokenException when this emulator did not issue it. */
  decode(token: Buffer): ImportTokenClaims {
    const invalid = new KmsError("InvalidImportTokenException", "Import token is invalid or malformed.");
    if (token.length <= MAGIC.length + MAC_BYTES || !token.subarray(0, MAGIC.length).equals(MAGIC))
      throw invalid;
    const body = token.subarray(0, token.length - MAC_BYTES);
    if (!timingSafeEqual(this.mac(body), token.subarray(token.length - MAC_BYTES))) throw invalid;
    try {
      return JSON.parse(body.subarray(MAGIC.length).toString("utf8")) as ImportTokenClaims;
    } catch {
      throw invalid;
    }
  }

  private mac(body: Buffer): Buffer {
    return createHmac("sha256", this.secret).update(body).digest();
  }
}

export const newTokenId = () => randomBytes(16).toString("hex");
