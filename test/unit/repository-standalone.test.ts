import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { dirname, posix, relative, resolve, sep } from "node:path";
import { describe, expect, it } from "vitest";

/**
 * A clone with nothing beside it must build, test and explain itself: no file may point outside the
 * repository, and every fixture a test opens must be tracked by git (present on disk is not enough: a clone
 * only gets what is committed).
 */

const ROOT = resolve(import.meta.dirname, "../..");
const THIS_FILE = relative(ROOT, import.meta.filename)
  .split(sep)
  .join("/");

function git(...args: string[]): string {
  try {
    return execFileSync("git", args, { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    throw new Error(`this check needs a git checkout of hsm2kms at ${ROOT}: git ${args.join(" ")} failed`, {
      cause: error,
    });
  }
}

const list = (output: string) => output.split("\0").filter((name) => name !== "");
/** Committed or staged: what a clone gets (once committed). */
const tracked = new Set(list(git("ls-files", "-z", "--cached")));
/** Tracked plus new files git does not ignore, so a reference is caught before its file is committed. */
const candidates = list(git("ls-files", "-z", "--cached", "--others", "--exclude-standard")).filter((name) =>
  existsSync(resolve(ROOT, name)),
);

function textOf(name: string): string | undefined {
  const bytes = readFileSync(resolve(ROOT, name));
  return bytes.subarray(0, 8000).includes(0) ? undefined : bytes.toString("utf8");
}

/** Names of documents that only ever existed outside the repository, and the workspace that held them. */
const OUTSIDE_NAMES: ReadonlyArray<[RegExp, string]> = [
  [/\bDESIGN\.md\b/, "the old design document: cite docs/architecture.md#section"],
  [/\bSTYLE\.md\b/, "the old style notes: cite docs/contributing.md"],
  [/\/work\//, "an absolute workspace path"],
  [
    /\bshared\/(?:vectors|reference)\b/,
    "data or notes outside the repository: use test/fixtures/ or docs/reference/",
  ],
];

/** Relative paths that are data, not references: hostile input a test expects to be refused. */
const NOT_REFERENCES = new Set(["../../etc/passwd"]);

const RELATIVE_PATH = /(?:\.\.\/)+[\w@.\-/]*/g;

/** Every file and folder a clone has (or will, once new files are committed); ignored files do not count. */
function pathsOf(files: readonly string[]): Set<string> {
  const paths = new Set<string>();
  for (const file of files) {
    const parts = file.split("/");
    for (let end = 1; end <= parts.length; end++) paths.add(parts.slice(0, end).join("/"));
  }
  return paths;
}

function inRepository(path: string, known: ReadonlySet<string>): boolean {
  // Imports name the compiled `.js`; the source is `.ts`.
  return path === "" || known.has(path) || (path.endsWith(".js") && known.has(`${path.slice(0, -3)}.ts`));
}

/** What in `text` (content of `file`, a root-relative path) points outside the repository or at nothing. */
function outsideReferences(file: string, text: string, known: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  text.split("\n").forEach((line, index) => {
    const where = `${file}:${index + 1}`;
    for (const [pattern, what] of OUTSIDE_NAMES)
      if (pattern.test(line)) problems.push(`${where}: ${what}: ${line.trim()}`);
    for (const match of line.matchAll(RELATIVE_PATH)) {
      const path = match[0].replace(/[.-]+$/, "");
      if (NOT_REFERENCES.has(path)) continue;
      const target = posix.join(posix.dirname(file), path).replace(/\/$/, "");
      if (target === ".." || target.startsWith("../"))
        problems.push(`${where}: ${path} points outside the repository`);
      else if (!inRepository(target === "." ? "" : target, known))
        problems.push(`${where}: ${path} points at nothing in the repository`);
    }
  });
  return problems;
}

/** Fixture paths a test file names: string literals under test/fixtures, relative to the repository root. */
function fixturePaths(file: string, text: string): string[] {
  const paths: string[] = [];
  for (const match of text.matchAll(/(["'`])([^"'`\n$]*fixtures\/[^"'`\n$]*)\1/g)) {
    const literal = match[2] ?? "";
    const absolute = literal.startsWith("test/")
      ? resolve(ROOT, literal)
      : resolve(ROOT, dirname(file), literal);
    paths.push(relative(ROOT, absolute).split(sep).join("/"));
  }
  return paths;
}

const isTracked = (path: string) =>
  tracked.has(path) || [...tracked].some((name) => name.startsWith(`${path.replace(/\/$/, "")}/`));

describe("the repository stands alone", () => {
  it("the scanners see what they should (a reference outside, one to nothing, a fixture path)", () => {
    const known = pathsOf(["src/a/b.ts", "src/c.ts", "test/unit/x.test.ts"]);
    expect(
      outsideReferences("src/a/b.ts", 'import { c } from "../c.js"; // see ../../README.md', known),
    ).toEqual(["src/a/b.ts:1: ../../README.md points at nothing in the repository"]);
    // Built from parts, so that this file itself names no path outside the repository.
    const outside = ["..", "..", "..", "shared", "vectors", "a"].join("/");
    expect(outsideReferences("test/unit/x.test.ts", `join(dir, "${outside}")`, known)).toEqual([
      `test/unit/x.test.ts:1: data or notes outside the repository: use test/fixtures/ or docs/reference/: join(dir, "${outside}")`,
      `test/unit/x.test.ts:1: ${outside} points outside the repository`,
    ]);
    expect(outsideReferences("src/a/b.ts", "// Source: ../gone/notes.md.", known)).toEqual([
      "src/a/b.ts:1: ../gone/notes.md points at nothing in the repository",
    ]);
    // The name of the old, outside design document, built from parts for the same reason.
    const design = ["DESIGN", "md"].join(".");
    expect(outsideReferences("src/c.ts", `/** The contract (${design}). */`, known)).toHaveLength(1);
    expect(
      fixturePaths("test/unit/x.test.ts", 'join(import.meta.dirname, "../fixtures/kms-import")'),
    ).toEqual(["test/fixtures/kms-import"]);
  });

  it("no file names a document or a path outside the repository", () => {
    expect(candidates.length).toBeGreaterThan(100);
    const known = pathsOf(candidates);
    const problems = candidates
      // This file names what it forbids.
      .filter((name) => name !== THIS_FILE)
      .flatMap((name) => {
        const text = textOf(name);
        return text === undefined ? [] : outsideReferences(name, text, known);
      });
    expect(problems).toEqual([]);
  });

  it("every fixture a test opens is tracked by git, and so is every file named beside it", () => {
    const opened = new Map<string, string[]>();
    for (const name of candidates.filter(
      (file) => file.startsWith("test/") && file.endsWith(".ts") && file !== THIS_FILE,
    )) {
      const text = readFileSync(resolve(ROOT, name), "utf8");
      const dirs = fixturePaths(name, text);
      if (dirs.length === 0) continue;
      // Bare file names in a test that opens a fixture folder are read from that folder.
      const names = [...text.matchAll(/(["'`])([\w.-]+\.(?:json|pem|der|csv|bin|txt|ya?ml))\1/g)].map(
        (m) => m[2] ?? "",
      );
      const paths = [
        ...dirs,
        ...names.map((file) => dirs.map((dir) => `${dir}/${file}`).find(isTracked) ?? `${dirs[0]}/${file}`),
      ];
      opened.set(name, paths);
    }
    expect([...opened.values()].flat()).toContain("test/fixtures/kms-import");
    const missing = [...opened].flatMap(([test, paths]) =>
      paths
        .filter((path) => !isTracked(path))
        .map((path) => `${test} opens ${path}, which git does not track`),
    );
    expect(missing).toEqual([]);
  });

  it("every fixture folder has a README naming each of its files, with the right SHA-256 where it gives one", () => {
    const folders = new Set(
      [...tracked].filter((name) => name.startsWith("test/fixtures/")).map((name) => name.split("/")[2]),
    );
    expect(folders.size).toBeGreaterThan(0);
    const problems: string[] = [];
    for (const folder of folders) {
      const base = `test/fixtures/${folder}`;
      const readme = tracked.has(`${base}/README.md`)
        ? readFileSync(resolve(ROOT, base, "README.md"), "utf8")
        : "";
      if (readme === "") problems.push(`${base} has no README.md saying where its files came from`);
      for (const file of [...tracked].filter(
        (name) => name.startsWith(`${base}/`) && !name.endsWith("/README.md"),
      )) {
        const fileName = file.slice(base.length + 1);
        const row = readme.split("\n").find((line) => line.includes(`\`${fileName}\``));
        if (row === undefined) {
          problems.push(`${base}/README.md does not name ${fileName}`);
          continue;
        }
        const stated = /`([0-9a-f]{64})`/.exec(row)?.[1];
        const actual = createHash("sha256")
          .update(readFileSync(resolve(ROOT, file)))
          .digest("hex");
        if (stated !== undefined && stated !== actual)
          problems.push(`${base}/README.md gives ${fileName} SHA-256 ${stated}; the file's is ${actual}`);
      }
    }
    expect(problems).toEqual([]);
  });
});
