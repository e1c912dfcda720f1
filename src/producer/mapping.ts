import { readFileSync } from "node:fs";
import { extname } from "node:path";
import { parse as parseYaml } from "yaml";
import { ConfigError } from "../shared/errors.js";

/** What a template may use: the HSM's facts about a key. */
export interface MappingVariables {
  label: string;
  id: string;
  keyType: string;
  keySpec: string;
  keyUsage: string;
  region: string;
}

interface Produce {
  alias?: string;
  description?: string;
  tags?: Record<string, string>;
}

interface Rule extends Produce {
  match?: { label?: string; keySpec?: string | string[] };
}

/** A checked mapping file: rules tried in order (first match wins), then the default. */
export interface Mapping {
  rules: Array<{ label?: RegExp; keySpecs?: string[]; produce: Produce }>;
  fallback: Produce;
}

const VARIABLES = new Set(["label", "id", "keyType", "keySpec", "keyUsage", "region"]);
const FILTERS: Record<string, (value: string) => string> = {
  lower: (value) => value.toLowerCase(),
  upper: (value) => value.toUpperCase(),
  // What KMS allows in an alias name: letters, digits, / _ -.
  slug: (value) => value.replace(/[^A-Za-z0-9/_-]+/g, "-").replace(/^-+|-+$/g, ""),
  short: (value) => value.slice(0, 8),
};
const PLACEHOLDER = /\{([^{}|]+)((?:\|[^{}|]+)*)\}/g;

function checkTemplate(template: unknown, where: string): void {
  if (typeof template !== "string") throw new ConfigError(`mapping ${where}: expected a template string`);
  for (const [, name = "", filters = ""] of template.matchAll(PLACEHOLDER)) {
    if (!VARIABLES.has(name))
      throw new ConfigError(
        `mapping ${where}: unknown variable {${name}}; expected one of ${[...VARIABLES].join(", ")}`,
      );
    for (const filter of filters.split("|").slice(1))
      if (!FILTERS[filter])
        throw new ConfigError(
          `mapping ${where}: unknown filter |${filter}; expected one of ${Object.keys(FILTERS).join(", ")}`,
        );
  }
}

function checkProduce(produce: Produce, where: string): Produce {
  if (produce.alias !== undefined) checkTemplate(produce.alias, `${where}.alias`);
  if (produce.description !== undefined) checkTemplate(produce.description, `${where}.description`);
  for (const [key, value] of Object.entries(produce.tags ?? {})) checkTemplate(value, `${where}.tags.${key}`);
  return { alias: produce.alias, description: produce.description, tags: produce.tags };
}

/** A mapping file's document: YAML for `.yaml`/`.yml`, JSON otherwise. */
function readMappingDocument(path: string): { rules?: Rule[]; default?: Produce } {
  const yaml = [".yaml", ".yml"].includes(extname(path).toLowerCase());
  let document: unknown;
  try {
    const text = readFileSync(path, "utf8");
    document = yaml ? parseYaml(text) : JSON.parse(text);
  } catch (error) {
    throw new ConfigError(
      `--mapping ${path} cannot be read as ${yaml ? "YAML" : "JSON"}: ${(error as Error).message}`,
    );
  }
  if (typeof document !== "object" || document === null || Array.isArray(document))
    throw new ConfigError(`--mapping ${path}: expected an object with "rules" (a list) and/or "default"`);
  const { rules } = document as { rules?: unknown };
  if (rules !== undefined && !Array.isArray(rules))
    throw new ConfigError(`--mapping ${path}: "rules" must be a list of rules`);
  return document as { rules?: Rule[]; default?: Produce };
}

/** Reads and checks a mapping file (JSON or YAML); a problem is a ConfigError naming the rule and field. */
export function loadMapping(path: string): Mapping {
  const document = readMappingDocument(path);
  const rules = (document.rules ?? []).map((rule, index) => {
    const where = `rules[${index}]`;
    let label: RegExp | undefined;
    try {
      label = rule.match?.label !== undefined ? new RegExp(rule.match.label) : undefined;
    } catch (error) {
      throw new ConfigError(`mapping ${where}.match.label: ${(error as Error).message}`);
    }
    const specs = rule.match?.keySpec;
    return {
      label,
      keySpecs: specs === undefined ? undefined : [specs].flat(),
      produce: checkProduce(rule, where),
    };
  });
  return { rules, fallback: checkProduce(document.default ?? {}, "default") };
}

function render(template: string, variables: MappingVariables): string {
  return template.replace(PLACEHOLDER, (_, name: string, filters: string) =>
    filters
      .split("|")
      .slice(1)
      .reduce(
        (value, filter) => FILTERS[filter]?.(value) ?? value,
        variables[name as keyof MappingVariables] ?? "",
      ),
  );
}

/** The alias, description and tags the mapping gives a key (first matching rule, else the default). */
export function applyMapping(
  mapping: Mapping,
  variables: MappingVariables,
): { alias?: string; description?: string; tags: Record<string, string> } {
  const rule = mapping.rules.find(
    (candidate) =>
      (!candidate.label || candidate.label.test(variables.label)) &&
      (!candidate.keySpecs || candidate.keySpecs.includes(variables.keySpec)),
  );
  const produce = rule?.produce ?? mapping.fallback;
  const tags: Record<string, string> = {};
  for (const [key, template] of Object.entries(produce.tags ?? {})) tags[key] = render(template, variables);
  return {
    ...(produce.alias !== undefined ? { alias: render(produce.alias, variables) } : {}),
    ...(produce.description !== undefined ? { description: render(produce.description, variables) } : {}),
    tags,
  };
}
