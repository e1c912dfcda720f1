import { readFile, stat } from "node:fs/promises";

/** KMS's limit on a key policy document. */
export const MAX_POLICY_BYTES = 32_768;

/**
 * Reads and checks a key policy file: readable, at most 32 KiB, a JSON object with a `Statement` and, if it
 * says so, Version 2012-10-17. Returns the policy minified, or what is wrong with it (naming the file and,
 * for bad JSON, where). Done before anything is enqueued, so a bad policy never reaches CreateKey.
 */
export async function readKeyPolicy(path: string): Promise<{ policy: string } | { problem: string }> {
  let text: string;
  try {
    const info = await stat(path);
    if (info.size > MAX_POLICY_BYTES)
      return { problem: `key policy ${path} is ${info.size} bytes; KMS accepts at most ${MAX_POLICY_BYTES}` };
    text = await readFile(path, "utf8");
  } catch (error) {
    return {
      problem: `key policy ${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"}); expected a JSON key policy file`,
    };
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    return { problem: `key policy ${path} is not valid JSON: ${(error as Error).message}` };
  }
  if (typeof document !== "object" || document === null || Array.isArray(document))
    return {
      problem: `key policy ${path} is not a JSON object; expected {"Version": "2012-10-17", "Statement": [...]}`,
    };
  const policy = document as Record<string, unknown>;
  if (!("Statement" in policy))
    return {
      problem: `key policy ${path} has no "Statement"; expected {"Version": "2012-10-17", "Statement": [...]}`,
    };
  if ("Version" in policy && policy["Version"] !== "2012-10-17")
    return {
      problem: `key policy ${path} has Version ${JSON.stringify(policy["Version"])}; expected "2012-10-17"`,
    };
  return { policy: JSON.stringify(policy) };
}
