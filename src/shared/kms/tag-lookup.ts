import {
  GetResourcesCommand,
  ResourceGroupsTaggingAPIClient,
} from "@aws-sdk/client-resource-groups-tagging-api";
import { fatal } from "../errors.js";
import { type KmsClientSettings, transientOnlyRetryStrategy } from "./kms-client.js";
import type { TaggedKmsKey } from "./types.js";

/**
 * Pages read per lookup at most. A migration-id tag matches one key (two at worst), but the Resource Groups
 * Tagging API reference says a page can hold fewer results than asked, even none, while a PaginationToken
 * says more may follow: a bound keeps a misbehaving endpoint from looping us.
 */
const MAX_PAGES = 50;

/**
 * A Resource Groups Tagging API client for one Region, with the same endpoint, credentials and retry
 * policy as the KMS client (the sandbox emulator answers both on one endpoint).
 */
export function createTaggingClient(settings: KmsClientSettings): ResourceGroupsTaggingAPIClient {
  return new ResourceGroupsTaggingAPIClient({
    region: settings.region,
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    ...(settings.credentials ? { credentials: settings.credentials } : {}),
    retryStrategy: transientOnlyRetryStrategy(settings),
    requestHandler: { requestTimeout: settings.requestTimeoutMs ?? 30_000 },
  });
}

/** The key id at the end of a KMS key ARN (`arn:aws:kms:<region>:<account>:key/<id>`). */
export function keyIdOfArn(arn: string): string {
  const match = /:key\/([^/]+)$/.exec(arn);
  if (!match?.[1])
    throw fatal("KMS_BAD_RESPONSE", `GetResources returned ${arn}, which is not a KMS key ARN`);
  return match[1];
}

/** Every KMS key the tag index holds with `tagKey` = `tagValue` (GetResources, all pages). */
export async function findKmsKeysByTag(
  client: ResourceGroupsTaggingAPIClient,
  tagKey: string,
  tagValue: string,
): Promise<TaggedKmsKey[]> {
  const found: TaggedKmsKey[] = [];
  let token: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const out = await client.send(
      new GetResourcesCommand({
        TagFilters: [{ Key: tagKey, Values: [tagValue] }],
        ResourceTypeFilters: ["kms:key"],
        ResourcesPerPage: 100,
        ...(token ? { PaginationToken: token } : {}),
      }),
    );
    for (const mapping of out.ResourceTagMappingList ?? []) {
      if (!mapping.ResourceARN) continue;
      const tags: Record<string, string> = {};
      for (const tag of mapping.Tags ?? []) if (tag.Key) tags[tag.Key] = tag.Value ?? "";
      found.push({ keyId: keyIdOfArn(mapping.ResourceARN), arn: mapping.ResourceARN, tags });
    }
    // The reference: the token is empty (or absent) only when there are no more results.
    token = out.PaginationToken || undefined;
    if (!token) return found;
  }
  throw fatal(
    "KMS_BAD_RESPONSE",
    `GetResources for tag ${tagKey}=${tagValue} still had more pages after ${MAX_PAGES}`,
  );
}
