#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx: no build step between a checkout and a working CLI.
import { register } from "tsx/esm/api";

// The SDK is pinned to a release that supports Node 20 (see README); its "Node 22 soon" warning is noise.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
register();
await import("../src/cli/main.ts");
