export {
  CampaignLostError,
  type CampaignMarker,
  type CampaignReading,
  CampaignWatch,
  campaignKey,
} from "./campaign.js";
export { campaignKeyPatterns, deleteCampaignKeys, ledgerHashTag, ledgerKey } from "./keys.js";
export { Ledger, LedgerConflictError, type LedgerCounts, type StoredRecord } from "./ledger.js";
