import type { OperationDefinition, RequestContext } from "../context.js";
import { KmsError, notFound, validation } from "../errors.js";
import { requireRoomForAlias } from "../limits.js";
import { page } from "../paging.js";
import { epochSeconds, type Input, optionalString, requiredString } from "../params.js";
import { requireNotPendingDeletion } from "./key-metadata.js";

/**
 * Predefined AWS managed aliases, which ListAliases shows in every Region even before (or without) an AWS
 * managed key behind them: API Reference, ListAliases ("the response might include several aliases that do
 * not have a TargetKeyId field ... predefined aliases that AWS has created but has not yet associated with a
 * KMS key"). The emulator has no AWS managed keys, so none of these has a target.
 */
export const AWS_MANAGED_ALIASES = [
  "alias/aws/acm",
  "alias/aws/dynamodb",
  "alias/aws/ebs",
  "alias/aws/elasticfilesystem",
  "alias/aws/es",
  "alias/aws/glue",
  "alias/aws/kinesisvideo",
  "alias/aws/lambda",
  "alias/aws/rds",
  "alias/aws/redshift",
  "alias/aws/s3",
  "alias/aws/secretsmanager",
  "alias/aws/ssm",
  "alias/aws/xray",
] as const;

const invalidAliasName = (message: string) => new KmsError("InvalidAliasNameException", message);

/**
 * An AliasName a caller may create, update or delete. API Reference, CreateAlias: "The alias name cannot begin
 * with alias/aws/. The alias/aws/ prefix is reserved for AWS managed keys" (InvalidAliasNameException: "the
 * specified alias name is not valid"); the model's length and pattern constraints fail validation first.
 */
function aliasName(input: Input): string {
  const name = requiredString(input, "AliasName", { max: 256 });
  if (!/^[a-zA-Z0-9:/_-]+$/.test(name))
    throw validation(`Alias ${name} may contain only letters, digits, /, _, - and :.`);
  if (!/^alias\/[a-zA-Z0-9/_-]+$/.test(name))
    throw validation(`Alias ${name} must start with alias/ followed by letters, digits, /, _ or -.`);
  if (name.startsWith("alias/aws/"))
    throw invalidAliasName(
      `Alias ${name} is not valid: the alias/aws/ prefix is reserved for AWS managed keys; choose another name.`,
    );
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
      requireRoomForAlias(ctx, key.keyId);
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
      if (key.keyId !== alias.targetKeyId) requireRoomForAlias(ctx, key.keyId);
      alias.targetKeyId = key.keyId;
      alias.lastUpdatedDate = ctx.now();
      return {};
    },
  },
  DeleteAlias: {
    mutates: true,
    run(ctx, input) {
      const name = aliasName(input);
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
      const key =
        keyIdFilter === undefined ? undefined : ctx.store.resolveKey(ctx.region, keyIdFilter, false);
      const customer = ctx.store
        .aliases(ctx.region)
        .filter((alias) => !key || alias.targetKeyId === key.keyId)
        .map((alias) => ({
          AliasName: alias.aliasName,
          AliasArn: ctx.store.aliasArn(ctx.region, alias.aliasName),
          TargetKeyId: alias.targetKeyId,
          CreationDate: epochSeconds(alias.creationDate),
          LastUpdatedDate: epochSeconds(alias.lastUpdatedDate),
        }));
      // A KeyId filter lists that key's aliases only; predefined aliases have no key.
      const predefined = key
        ? []
        : AWS_MANAGED_ALIASES.map((name) => ({
            AliasName: name,
            AliasArn: ctx.store.aliasArn(ctx.region, name),
          }));
      const aliases = [...customer, ...predefined].sort((a, b) => (a.AliasName < b.AliasName ? -1 : 1));
      const scope = `ListAliases\n${ctx.region}\n${key?.keyId ?? ""}`;
      const { items, ...paging } = page(input, aliases, 50, 100, scope);
      return { Aliases: items, ...paging };
    },
  },
};
