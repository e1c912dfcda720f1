export { type CampaignPackOptions, writeCampaignPack } from "./campaign-pack.js";
export { lookUpOperator, type OperatorLookupSettings } from "./operator.js";
export { printVerification } from "./print.js";
export { evidenceRecord, recordFileName } from "./record.js";
export { packSigningAlgorithm, verifyKmsSignature } from "./signatures.js";
export { kmsPackSigner, type PackSigner, regionOfKeyArn } from "./signer.js";
export type * from "./types.js";
export { type PackVerification, readPublicKeyFile, verifyEvidencePack } from "./verify-pack.js";
export { checkPackTarget, type WritePackOptions, type WrittenPack, writeEvidencePack } from "./write-pack.js";
