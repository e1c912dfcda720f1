export { Ledger, LedgerConflictError, type LedgerCounts, type StoredRecord } from "./ledger.js";
