export {
  CampaignLostError,
  type CampaignMarker,
  type CampaignReading,
  CampaignWatch,
  campaignKey,
} from "./campaign.js";
export { Ledger, LedgerConflictError, type LedgerCounts, type StoredRecord } from "./ledger.js";
