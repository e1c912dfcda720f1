import { extname } from "node:path";
import { parse as parseYaml, YAMLError } from "yaml";
import { show } from "../manifest/text.js";
import { decodeUtf8, readFileBoundedSync } from "../shared/bounded-read.js";
import { ConfigError } from "../shared/errors.js";
import { lineAndColumn, parseJsonText } from "../shared/json-syntax.js";

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
        `mapping ${where}: unknown variable {${show(name).slice(1, -1)}}; expected one of ${[...VARIABLES].join(", ")}`,
      );
    for (const filter of filters.split("|").slice(1))
      if (!FILTERS[filter])
        throw new ConfigError(
          `mapping ${where}: unknown filter |${show(filter).slice(1, -1)}; expected one of ${Object.keys(FILTERS).join(", ")}`,
        );
  }
}

/** A template field as the mapping gives it (after the document's shape was checked). */
function checkProduce(produce: Produce, where: string): Produce {
  if (produce.alias !== undefined) checkTemplate(produce.alias, `${where}.alias`);
  if (produce.description !== undefined) checkTemplate(produce.description, `${where}.description`);
  for (const [key, value] of Object.entries(produce.tags ?? {}))
    checkTemplate(value, `${where}.tags.${show(key).slice(1, -1)}`);
  return { alias: produce.alias, description: produce.description, tags: produce.tags };
}

/** A mapping file is small: a few hundred rules at most. The cap stops /dev/zero or a wrong file early. */
export const MAX_MAPPING_BYTES = 4 * 1024 * 1024;

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

const PRODUCE_FIELDS = new Set(["alias", "description", "tags"]);
const RULE_FIELDS = new Set(["match", ...PRODUCE_FIELDS]);
const MATCH_FIELDS = new Set(["label", "keySpec"]);
const kindOf = (value: unknown) =>
  value === null ? "null" : Array.isArray(value) ? "a list" : `a ${typeof value}`;

/** Checks the shape of a rule (or of `default`), so a `null` or a typo is named rather than crashing later. */
function checkShape(value: unknown, where: string, fields: Set<string>): Record<string, unknown> {
  if (!isObject(value))
    throw new ConfigError(
      `mapping ${where} is ${kindOf(value)}; expected an object with ${[...fields].join(", ")}`,
    );
  for (const field of Object.keys(value))
    if (!fields.has(field))
      throw new ConfigError(
        `mapping ${where} has an unknown field ${show(field)}; expected only ${[...fields].join(", ")}`,
      );
  if (value["tags"] !== undefined && !isObject(value["tags"]))
    throw new ConfigError(
      `mapping ${where}.tags is ${kindOf(value["tags"])}; expected an object of tag name: template`,
    );
  return value;
}

function checkMatch(rule: Record<string, unknown>, where: string): Rule["match"] {
  if (rule["match"] === undefined) return undefined;
  const match = checkShape(rule["match"], `${where}.match`, MATCH_FIELDS);
  if (match["label"] !== undefined && typeof match["label"] !== "string")
    throw new ConfigError(
      `mapping ${where}.match.label is ${kindOf(match["label"])}; expected a regular expression string`,
    );
  const specs = match["keySpec"];
  if (specs !== undefined && ![specs].flat().every((spec) => typeof spec === "string"))
    throw new ConfigError(`mapping ${where}.match.keySpec: expected a KeySpec string or a list of them`);
  return match as Rule["match"];
}

/** The text of a mapping file, read with a cap; a problem names the file, never its content. */
function readMappingText(path: string): string {
  const read = readFileBoundedSync(path, MAX_MAPPING_BYTES, "a mapping file");
  if ("problem" in read)
    throw new ConfigError(`--mapping ${path} ${read.problem}; expected a JSON or YAML mapping file`);
  const decoded = decodeUtf8(read.bytes);
  if ("problem" in decoded)
    throw new ConfigError(`--mapping ${path} ${decoded.problem}; expected a JSON or YAML mapping file`);
  return decoded.text;
}

/**
 * YAML's parse errors quote the offending line: only the error's code and position are kept, so a file that
 * is not YAML (a PIN file, /etc/passwd) is never repeated.
 */
function parseYamlText(text: string): { value: unknown } | { problem: string } {
  try {
    return { value: parseYaml(text, { prettyErrors: false }) };
  } catch (error) {
    if (error instanceof YAMLError) {
      const at = error.pos?.[0] === undefined ? undefined : lineAndColumn(text, error.pos[0]);
      const where = at ? `line ${at.line}, column ${at.column}: ` : "";
      return { problem: `is not valid YAML: ${where}${error.code.toLowerCase().replaceAll("_", " ")}` };
    }
    return { problem: "is not valid YAML" };
  }
}

/** A mapping file's document: YAML for `.yaml`/`.yml`, JSON otherwise. */
function readMappingDocument(path: string): { rules?: unknown[]; default?: unknown } {
  const yaml = [".yaml", ".yml"].includes(extname(path).toLowerCase());
  const text = readMappingText(path);
  const parsed = yaml ? parseYamlText(text) : parseJsonText(text);
  if ("problem" in parsed)
    throw new ConfigError(
      `--mapping ${path} ${parsed.problem}; expected a mapping in ${yaml ? "YAML" : "JSON"}`,
    );
  const document = parsed.value;
  if (!isObject(document))
    throw new ConfigError(`--mapping ${path}: expected an object with "rules" (a list) and/or "default"`);
  const { rules } = document;
  if (rules !== undefined && !Array.isArray(rules))
    throw new ConfigError(`--mapping ${path}: "rules" must be a list of rules`);
  for (const field of Object.keys(document))
    if (field !== "rules" && field !== "default")
      throw new ConfigError(
        `--mapping ${path}: unknown field ${show(field)}; expected "rules" and/or "default"`,
      );
  return document as { rules?: unknown[]; default?: unknown };
}

/** Reads and checks a mapping file (JSON or YAML); a problem is a ConfigError naming the rule and field. */
export function loadMapping(path: string): Mapping {
  const document = readMappingDocument(path);
  const rules = (document.rules ?? []).map((value, index) => {
    const where = `rules[${index}]`;
    const rule = checkShape(value, where, RULE_FIELDS);
    const match = checkMatch(rule, where);
    let label: RegExp | undefined;
    try {
      label = match?.label !== undefined ? new RegExp(match.label) : undefined;
    } catch (error) {
      // The engine's message repeats the pattern: keep only its reason, after the last colon.
      const reason = (error as Error).message.split(": ").at(-1);
      throw new ConfigError(
        `mapping ${where}.match.label: Invalid regular expression (${reason}); expected a JavaScript regular expression`,
      );
    }
    const specs = match?.keySpec;
    return {
      label,
      keySpecs: specs === undefined ? undefined : [specs].flat(),
      produce: checkProduce(rule as Produce, where),
    };
  });
  const fallback =
    document.default === undefined ? {} : checkShape(document.default, "default", PRODUCE_FIELDS);
  return { rules, fallback: checkProduce(fallback as Produce, "default") };
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
