import type { ManifestRow } from "../manifest/types.js";

/**
 * The KMS requests one account-Region pair receives from a campaign, counted as AWS meters them (AWS KMS
 * Developer Guide, "Request quotas"): each quota is per account and Region, and each operation's quota is
 * calculated independently.
 */
export interface GroupWorkload {
  /** The target account (12 digits); undefined: the account of the caller's credentials. */
  account: string | undefined;
  region: string;
  /** Keys migrated into this account and Region (a replica counts in its own Region): one wrap each. */
  keys: number;
  /** Of `keys`, the multi-Region replicas. */
  replicas: number;
  /** Requests per KMS operation. */
  requests: Record<string, number>;
}

/** `account/region`, the key of a group. */
export function groupKey(account: string | undefined, region: string): string {
  return `${account ?? ""}/${region}`;
}

/**
 * Adds up the KMS requests of manifest rows per account and Region, as the pipeline makes them: per key
 * CreateKey, CreateAlias (with an alias), GetParametersForImport, ImportKeyMaterial and the verify phase's
 * Sign (the quota that paces verify). A replica is made by ReplicateKey in the primary's Region, which AWS
 * counts as one ReplicateKey request there and two CreateKey requests in the replica's Region (one a dry run;
 * "Request quotas", ReplicateKey request rate); the replica then gets its own alias, import parameters,
 * import and verification in its Region. Token refreshes are not counted: they are rare when wrap keeps up.
 */
export class CampaignWorkload {
  readonly #groups = new Map<string, GroupWorkload>();

  /** Adds one valid manifest row (its primary Region and every replica Region). */
  add(
    row: Pick<ManifestRow, "region" | "alias" | "replicaRegions"> & { account?: string | undefined },
  ): void {
    const primary = this.#group(row.account, row.region);
    this.#addKey(primary, row.alias !== undefined, 1);
    for (const replicaRegion of row.replicaRegions) {
      count(primary, "ReplicateKey", 1);
      const replica = this.#group(row.account, replicaRegion);
      replica.replicas += 1;
      this.#addKey(replica, row.alias !== undefined, 2);
    }
  }

  /** The groups, by account then Region. */
  groups(): GroupWorkload[] {
    return [...this.#groups.values()].sort(
      (a, b) => (a.account ?? "").localeCompare(b.account ?? "") || a.region.localeCompare(b.region),
    );
  }

  #addKey(group: GroupWorkload, alias: boolean, createKeyRequests: number): void {
    group.keys += 1;
    count(group, "CreateKey", createKeyRequests);
    if (alias) count(group, "CreateAlias", 1);
    count(group, "GetParametersForImport", 1);
    count(group, "ImportKeyMaterial", 1);
    count(group, "Sign", 1);
  }

  #group(account: string | undefined, region: string): GroupWorkload {
    const key = groupKey(account, region);
    let group = this.#groups.get(key);
    if (!group) {
      group = { account, region, keys: 0, replicas: 0, requests: {} };
      this.#groups.set(key, group);
    }
    return group;
  }
}

function count(group: GroupWorkload, operation: string, requests: number): void {
  group.requests[operation] = (group.requests[operation] ?? 0) + requests;
}
