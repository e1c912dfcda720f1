import type { OperationDefinition, RequestContext } from "../context.js";
import { KmsError, validation } from "../errors.js";
import type { Tag } from "../key-record.js";
import { page } from "../paging.js";
import { type Input, optionalStringList, requiredString } from "../params.js";
import { requireNotPendingDeletion } from "./key-metadata.js";

const tagError = (message: string) => new KmsError("TagException", message);

/** Tags as CreateKey, ReplicateKey and TagResource take them, checked as KMS does. */
export function parseTags(input: Input, name = "Tags"): Tag[] {
  const value = input[name];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw validation(`${name} must be a list`);
  return value.map((entry) => {
    const tag = entry as Partial<Tag>;
    if (typeof tag?.TagKey !== "string" || typeof tag.TagValue !== "string")
      throw validation("Each tag needs a TagKey and a TagValue string");
    if (tag.TagKey.length < 1 || tag.TagKey.length > 128)
      throw tagError("TagKey must be 1 to 128 characters");
    if (tag.TagValue.length > 256) throw tagError("TagValue must be at most 256 characters");
    if (tag.TagKey.startsWith("aws:")) throw tagError("Tag keys starting with aws: are reserved for AWS");
    return { TagKey: tag.TagKey, TagValue: tag.TagValue };
  });
}

/** Adds or replaces tags by key; a key holds at most 50. */
export function mergeTags(existing: Tag[], added: Tag[]): Tag[] {
  const merged = new Map(existing.map((tag) => [tag.TagKey, tag]));
  for (const tag of added) merged.set(tag.TagKey, tag);
  if (merged.size > 50) throw new KmsError("LimitExceededException", "A KMS key can have at most 50 tags.");
  return [...merged.values()];
}

function taggableKey(ctx: RequestContext, input: Input) {
  const key = ctx.store.resolveKey(ctx.region, requiredString(input, "KeyId"), false);
  requireNotPendingDeletion(ctx, key);
  return key;
}

export const tagOperations: Record<string, OperationDefinition> = {
  TagResource: {
    mutates: true,
    run(ctx, input) {
      const key = taggableKey(ctx, input);
      key.tags = mergeTags(key.tags, parseTags(input));
      ctx.tagIndex.changed(key);
      return {};
    },
  },
  UntagResource: {
    mutates: true,
    run(ctx, input) {
      const key = taggableKey(ctx, input);
      const removed = new Set(optionalStringList(input, "TagKeys") ?? []);
      key.tags = key.tags.filter((tag) => !removed.has(tag.TagKey));
      ctx.tagIndex.changed(key);
      return {};
    },
  },
  ListResourceTags: {
    mutates: false,
    run(ctx, input) {
      const key = ctx.store.resolveKey(ctx.region, requiredString(input, "KeyId"), false);
      const { items, ...paging } = page(
        input,
        key.tags,
        50,
        50,
        `ListResourceTags\n${ctx.region}\n${key.keyId}`,
      );
      return { Tags: items, ...paging };
    },
  },
};
