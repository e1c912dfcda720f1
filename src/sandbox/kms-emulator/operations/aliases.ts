import type { OperationDefinition, RequestContext } from "../context.js";
import { KmsError, notFound, validation } from "../errors.js";
import { page } from "../paging.js";
import { epochSeconds, type Input, optionalString, requiredString } from "../params.js";
import { requireNotPendingDeletion } from "./key-metadata.js";

function aliasName(input: Input): string {
  const name = requiredString(input, "AliasName", { max: 256 });
  if (!/^alias\/[a-zA-Z0-9/_-]+$/.test(name))
    throw validation(`Alias ${name} must start with alias/ followed by letters, digits, /, _ or -.`);
  if (name.startsWith("alias/aws/")) throw validation(`Alias ${name} is reserved for AWS managed keys.`);
  return name;
}

/** The target key of CreateAlias/UpdateAlias: key ID or ARN, not pending deletion. */
function targetKey(ctx: RequestContext, input: Input) {
  const key = ctx.store.resolveKey(ctx.region, requiredString(input, "TargetKeyId"), false);
  requireNotPendingDeletion(ctx, key);
  return key;
}

export const aliasOperations: Record<string, OperationDefinition> = {
  CreateAlias: {
    mutates: true,
    run(ctx, input) {
      const name = aliasName(input);
      const key = targetKey(ctx, input);
      const aliases = ctx.store.region(ctx.region).aliases;
      ctx.store.aliases(ctx.region);
      if (aliases.has(name))
        throw new KmsError(
          "AlreadyExistsException",
          `An alias with the name ${ctx.store.aliasArn(ctx.region, name)} already exists`,
        );
      // The name is checked against every alias, seen by callers or not: no name is ever taken twice.
      const now = ctx.now();
      const visibleAt = ctx.store.aliasVisibleAt();
      aliases.set(name, {
        aliasName: name,
        targetKeyId: key.keyId,
        creationDate: now,
        lastUpdatedDate: now,
        ...(visibleAt === undefined ? {} : { visibleAt }),
      });
      return {};
    },
  },
  UpdateAlias: {
    mutates: true,
    run(ctx, input) {
      const name = aliasName(input);
      const alias = ctx.store.visibleAlias(ctx.region, name);
      if (!alias) throw notFound(`Alias ${ctx.store.aliasArn(ctx.region, name)} is not found.`);
      const key = targetKey(ctx, input);
      const current = ctx.store.resolveKey(ctx.region, alias.targetKeyId, false);
      if (current.keySpec !== key.keySpec || current.keyUsage !== key.keyUsage)
        throw validation("UpdateAlias must keep the alias on a key of the same key spec and key usage.");
      alias.targetKeyId = key.keyId;
      alias.lastUpdatedDate = ctx.now();
      return {};
    },
  },
  DeleteAlias: {
    mutates: true,
    run(ctx, input) {
      const name = requiredString(input, "AliasName", { max: 256 });
      if (!ctx.store.visibleAlias(ctx.region, name))
        throw notFound(`Alias ${ctx.store.aliasArn(ctx.region, name)} is not found.`);
      ctx.store.region(ctx.region).aliases.delete(name);
      return {};
    },
  },
  ListAliases: {
    mutates: false,
    run(ctx, input) {
      const keyIdFilter = optionalString(input, "KeyId", { min: 1, max: 2048 });
      let aliases = ctx.store.aliases(ctx.region);
      if (keyIdFilter !== undefined) {
        const key = ctx.store.resolveKey(ctx.region, keyIdFilter, false);
        aliases = aliases.filter((alias) => alias.targetKeyId === key.keyId);
      }
      aliases.sort((a, b) => (a.aliasName < b.aliasName ? -1 : 1));
      const { items, ...paging } = page(input, aliases, 50, 100);
      return {
        Aliases: items.map((alias) => ({
          AliasName: alias.aliasName,
          AliasArn: ctx.store.aliasArn(ctx.region, alias.aliasName),
          TargetKeyId: alias.targetKeyId,
          CreationDate: epochSeconds(alias.creationDate),
          LastUpdatedDate: epochSeconds(alias.lastUpdatedDate),
        })),
        ...paging,
      };
    },
  },
};
