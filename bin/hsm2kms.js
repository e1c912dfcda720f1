#!/usr/bin/env node
// Starts the compiled CLI (dist/, built by `npm run build`, `prepare` and `prepack`). In a clone whose dist/ is
// missing or older than a source file, runs the TypeScript sources through tsx instead (slower to start, but
// never stale): a fresh clone, `bash scripts/demo.sh` and an edit-and-run loop need no build step.
import { existsSync, readdirSync, statSync } from "node:fs";

const root = new URL("../", import.meta.url);
const compiled = new URL("dist/cli/main.js", root);
const sources = new URL("src/", root);

/** Newest modification time under a folder (a clone's src/: a few hundred files, a few milliseconds). */
function newestMtimeMs(folder) {
  let newest = 0;
  for (const entry of readdirSync(folder, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) newest = Math.max(newest, statSync(`${entry.parentPath}/${entry.name}`).mtimeMs);
  }
  return newest;
}

// An installed package has dist/ and no src/; a clone has src/ and maybe a dist/ built earlier.
const useCompiled =
  existsSync(compiled) && (!existsSync(sources) || statSync(compiled).mtimeMs >= newestMtimeMs(sources));

if (useCompiled) {
  await import(compiled.href);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import(new URL("src/cli/main.ts", root).href);
}
