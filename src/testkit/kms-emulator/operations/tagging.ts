import { randomBytes } from "node:crypto";
import type { OperationDefinition, RequestContext } from "../context.js";
import { KmsError } from "../errors.js";
import type { Input } from "../params.js";
import type { IndexedKey } from "../tag-index.js";

/**
 * The Resource Groups Tagging API's GetResources (`ResourceGroupsTaggingAPI_20170126.GetResources`) over
 * the emulator's KMS keys, as the Resource Groups Tagging API Reference describes it: TagFilters (AND across
 * keys, OR across one key's values, a key without values matches any value), ResourceTypeFilters
 * (`service[:resourceType]`), ResourcesPerPage 1-100 or TagsPerPage 100-500, ResourceARNList, and a
 * PaginationToken that is empty only when no results remain; a page may hold fewer results than asked.
 */

/** Request quota of GetResources per Region. AWS's pages give no figure we rely on: as strict as CreateKey. */
export const TAGGING_QUOTAS: Readonly<Record<string, number>> = { GetResources: 5 };

/** A pagination token lives 15 minutes (then PaginationTokenExpiredException). */
const TOKEN_TTL_MS = 15 * 60_000;
const DEFAULT_PAGE = 50;

const invalid = (message: string) => new KmsError("InvalidParameterException", message);

function integerIn(input: Input, name: string, min: number, max: number): number | undefined {
  const value = input[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max)
    throw invalid(`${name} must be an integer from ${min} to ${max}`);
  return value;
}

function stringList(input: Input, name: string, maxItems: number, pattern: RegExp): string[] | undefined {
  const value = input[name];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.length > maxItems)
    throw invalid(`${name} must be a list of at most ${maxItems} strings`);
  return value.map((item) => {
    if (typeof item !== "string" || !pattern.test(item)) throw invalid(`${name} has an invalid entry`);
    return item;
  });
}

interface TagFilter {
  key: string;
  values: string[];
}

function tagFilters(input: Input): TagFilter[] | undefined {
  const value = input["TagFilters"];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.length > 50)
    throw invalid("TagFilters must be a list of at most 50 filters");
  return value.map((entry) => {
    const filter = entry as { Key?: unknown; Values?: unknown };
    if (typeof filter?.Key !== "string" || filter.Key.length < 1 || filter.Key.length > 128)
      throw invalid("Each TagFilter needs a Key of 1 to 128 characters");
    const values = filter.Values ?? [];
    if (!Array.isArray(values) || values.length > 20)
      throw invalid(`TagFilter ${filter.Key}: at most 20 Values`);
    for (const v of values)
      if (typeof v !== "string" || v.length > 256)
        throw invalid(`TagFilter ${filter.Key}: each value is a string of at most 256 characters`);
    return { key: filter.Key, values: values as string[] };
  });
}

function matches(key: IndexedKey, filters: TagFilter[] | undefined, types: string[] | undefined): boolean {
  // The emulator holds KMS keys only: a type filter keeps them when it names kms or kms:key.
  if (types && !types.some((type) => type === "kms" || type === "kms:key")) return false;
  // Without tag filters, "previously tagged" resources show with an empty tag set; with them, only matches.
  if (!filters?.length) return true;
  return filters.every((filter) =>
    key.tags.some(
      (tag) =>
        tag.TagKey === filter.key && (filter.values.length === 0 || filter.values.includes(tag.TagValue)),
    ),
  );
}

function getResources(ctx: RequestContext, input: Input) {
  const filters = tagFilters(input);
  const types = stringList(input, "ResourceTypeFilters", 100, /^[a-z0-9-]+(:[A-Za-z0-9-]+)?$/);
  const arns = stringList(input, "ResourceARNList", 100, /^arn:aws[a-z-]*:[a-z0-9-]+:.+$/);
  const resourcesPerPage = integerIn(input, "ResourcesPerPage", 1, 100);
  const tagsPerPage = integerIn(input, "TagsPerPage", 100, 500);
  const token = input["PaginationToken"];
  if (token !== undefined && token !== null && typeof token !== "string")
    throw invalid("PaginationToken must be a string");
  // The reference recommends ResourcesPerPage over TagsPerPage and is silent on both at once: refused here.
  if (resourcesPerPage !== undefined && tagsPerPage !== undefined)
    throw invalid("Specify ResourcesPerPage or TagsPerPage, not both");
  if (arns && (filters || types || resourcesPerPage !== undefined || tagsPerPage !== undefined || token))
    throw invalid("ResourceARNList cannot be combined with TagFilters, ResourceTypeFilters or pagination");

  const all = ctx.tagIndex.view(ctx.region, ctx.store);
  const arnOf = (key: IndexedKey) => ctx.store.keyArn(key.region, key.keyId);
  const mapping = (key: IndexedKey) => ({
    ResourceARN: arnOf(key),
    Tags: key.tags.map((tag) => ({ Key: tag.TagKey, Value: tag.TagValue })),
  });
  if (arns) {
    const wanted = new Set(arns);
    return {
      PaginationToken: "",
      ResourceTagMappingList: all.filter((key) => wanted.has(arnOf(key))).map(mapping),
    };
  }

  const query = JSON.stringify([ctx.region, filters, types, resourcesPerPage, tagsPerPage]);
  const now = ctx.now();
  let offset = 0;
  if (token) {
    const page = ctx.tagIndex.pages.get(token);
    if (!page || page.query !== query)
      throw invalid("PaginationToken is not one this API returned for the same query");
    if (page.expiresAt <= now)
      throw new KmsError("PaginationTokenExpiredException", "The pagination token expired.");
    offset = page.offset;
  }
  const found = all.filter((key) => matches(key, filters, types));
  let size = resourcesPerPage ?? DEFAULT_PAGE;
  if (tagsPerPage !== undefined) {
    // A resource with no tags counts as one tag; a resource and its tags never span two pages.
    let tags = 0;
    size = 0;
    for (const key of found.slice(offset)) {
      tags += Math.max(1, key.tags.length);
      if (tags > tagsPerPage) break;
      size++;
    }
  }
  // "Queries can occasionally return fewer results on a page than allowed": so does the emulator.
  if (Math.random() < 0.1) size = Math.floor(Math.random() * size);
  const items = found.slice(offset, offset + size);
  const next = offset + items.length;
  let nextToken = "";
  if (next < found.length) {
    nextToken = randomBytes(24).toString("base64url");
    ctx.tagIndex.pages.set(nextToken, { query, offset: next, expiresAt: now + TOKEN_TTL_MS });
  }
  for (const [id, page] of ctx.tagIndex.pages)
    if (page.expiresAt + TOKEN_TTL_MS < now) ctx.tagIndex.pages.delete(id);
  return { PaginationToken: nextToken, ResourceTagMappingList: items.map(mapping) };
}

/** Resource Groups Tagging API operations, by name (`ResourceGroupsTaggingAPI_20170126.<name>`). */
export const TAGGING_OPERATIONS: Readonly<Record<string, OperationDefinition>> = {
  GetResources: { mutates: false, run: getResources },
};
