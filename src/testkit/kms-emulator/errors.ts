/**
 * AWS KMS errors as the emulator sends them: the exception name goes into `__type` and `x-amzn-ErrorType`,
 * the status is HTTP 400 for client errors and 5xx for service faults, as AWS does.
 */
export class KmsError extends Error {
  /** The AWS exception name, e.g. `NotFoundException`. */
  readonly type: string;
  readonly status: number;

  constructor(type: string, message: string, status = 400) {
    super(message);
    this.name = this.constructor.name;
    this.type = type;
    this.status = status;
  }
}

export const validation = (message: string) => new KmsError("ValidationException", message);
export const notFound = (message: string) => new KmsError("NotFoundException", message);
export const invalidState = (message: string) => new KmsError("KMSInvalidStateException", message);
export const unsupported = (message: string) => new KmsError("UnsupportedOperationException", message);
export const incorrectKeyMaterial = (message: string) =>
  new KmsError("IncorrectKeyMaterialException", message);
export const invalidCiphertext = (message: string) => new KmsError("InvalidCiphertextException", message);
export const invalidKeyUsage = (message: string) => new KmsError("InvalidKeyUsageException", message);
export const internal = (message: string) => new KmsError("KMSInternalException", message, 500);
