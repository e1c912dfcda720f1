import { validation } from "./errors.js";

/** A decoded AWS JSON 1.1 request body. */
export type Input = Record<string, unknown>;

// AWS phrases constraint failures as "1 validation error detected: Value ... at '<member>' failed ...".
const memberName = (name: string) => name.charAt(0).toLowerCase() + name.slice(1);

function constraint(name: string, value: unknown, rule: string) {
  const shown = typeof value === "string" ? value : JSON.stringify(value);
  return validation(
    `1 validation error detected: Value '${shown}' at '${memberName(name)}' failed to satisfy constraint: ${rule}`,
  );
}

export function optionalString(
  input: Input,
  name: string,
  limits: { min?: number; max?: number } = {},
): string | undefined {
  const value = input[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw validation(`${name} must be a string`);
  if (value.length < (limits.min ?? 0))
    throw constraint(name, value, `Member must have length greater than or equal to ${limits.min}`);
  if (limits.max !== undefined && value.length > limits.max)
    throw constraint(name, value, `Member must have length less than or equal to ${limits.max}`);
  return value;
}

export function requiredString(input: Input, name: string, limits: { min?: number; max?: number } = {}) {
  const value = optionalString(input, name, { min: 1, ...limits });
  if (value === undefined)
    throw validation(
      `1 validation error detected: Value null at '${memberName(name)}' failed to satisfy constraint: Member must not be null`,
    );
  return value;
}

export function optionalEnum<T extends string>(
  input: Input,
  name: string,
  values: readonly T[],
): T | undefined {
  const value = optionalString(input, name);
  if (value === undefined) return undefined;
  if (!(values as readonly string[]).includes(value))
    throw constraint(name, value, `Member must satisfy enum value set: [${values.join(", ")}]`);
  return value as T;
}

export function requiredEnum<T extends string>(input: Input, name: string, values: readonly T[]): T {
  requiredString(input, name);
  return optionalEnum(input, name, values)!;
}

export function optionalBlob(input: Input, name: string, limits: { max?: number } = {}): Buffer | undefined {
  const value = input[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(value))
    throw validation(`${name} is not valid base64`);
  const bytes = Buffer.from(value, "base64");
  if (bytes.length === 0) throw constraint(name, "", "Member must have length greater than or equal to 1");
  if (limits.max !== undefined && bytes.length > limits.max)
    throw constraint(
      name,
      `${bytes.length} bytes`,
      `Member must have length less than or equal to ${limits.max}`,
    );
  return bytes;
}

export function requiredBlob(input: Input, name: string, limits: { max?: number } = {}): Buffer {
  const bytes = optionalBlob(input, name, limits);
  if (!bytes) requiredString(input, name);
  return bytes!;
}

export function optionalInteger(input: Input, name: string, min: number, max: number): number | undefined {
  const value = input[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value)) throw validation(`${name} must be an integer`);
  if (value < min) throw constraint(name, value, `Member must have value greater than or equal to ${min}`);
  if (value > max) throw constraint(name, value, `Member must have value less than or equal to ${max}`);
  return value;
}

export function optionalBoolean(input: Input, name: string): boolean | undefined {
  const value = input[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "boolean") throw validation(`${name} must be a boolean`);
  return value;
}

/** A timestamp member (epoch seconds on the wire), in epoch milliseconds. */
export function optionalTimestamp(input: Input, name: string): number | undefined {
  const value = input[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value)) throw validation(`${name} must be a timestamp`);
  return Math.round(value * 1000);
}

export function optionalStringMap(input: Input, name: string): Record<string, string> | undefined {
  const value = input[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "object" || Array.isArray(value)) throw validation(`${name} must be a map`);
  for (const entry of Object.values(value))
    if (typeof entry !== "string") throw validation(`${name} values must be strings`);
  return value as Record<string, string>;
}

export function optionalStringList(input: Input, name: string): string[] | undefined {
  const value = input[name];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.some((entry) => typeof entry !== "string"))
    throw validation(`${name} must be a list of strings`);
  return value as string[];
}

/** Epoch milliseconds as the wire wants them: epoch seconds. */
export const epochSeconds = (ms: number) => ms / 1000;
