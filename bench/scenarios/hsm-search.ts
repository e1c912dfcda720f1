import pkcs11js from "pkcs11js";
import { newKeyPairSync } from "../../src/shared/crypto/key-pairs.js";
import { findObjects } from "../../src/shared/hsm/attributes.js";
import { findSourceKey } from "../../src/shared/hsm/find.js";
import { chooseWrapPlan, openPkcs11Hsm } from "../../src/shared/hsm/index.js";
import { listTokenKeys } from "../../src/shared/hsm/token-index.js";
import type { HsmPort } from "../../src/shared/hsm/types.js";
import type { SampleKey } from "../../src/testkit/sample-keys.js";
import { withTokenSession } from "../../test/helpers/softhsm.js";
import type { BenchEnv } from "../lib/bench-env.js";
import { type Figure, info } from "../lib/report.js";
import type { Scenario } from "./types.js";

/** Keys per token size whose HSM calls are timed (spread over the token, RSA excluded: its wrap is slow). */
const SAMPLE = 24;

/** Counts C_FindObjectsInit calls and the time spent searching (Init, FindObjects, Final) in this process. */
class SearchCounter {
  searches = 0;
  searchMs = 0;
  private restore: (() => void) | undefined;

  start(): this {
    const proto = pkcs11js.PKCS11.prototype;
    const originals = {
      init: proto.C_FindObjectsInit,
      find: proto.C_FindObjects,
      final: proto.C_FindObjectsFinal,
    };
    const counter = this;
    const timed = <A extends unknown[], R>(fn: (...args: A) => R, count: boolean) =>
      function (this: unknown, ...args: A): R {
        if (count) counter.searches++;
        const started = performance.now();
        try {
          return fn.apply(this, args);
        } finally {
          counter.searchMs += performance.now() - started;
        }
      };
    proto.C_FindObjectsInit = timed(originals.init, true);
    proto.C_FindObjects = timed(originals.find, false) as typeof proto.C_FindObjects;
    proto.C_FindObjectsFinal = timed(originals.final, false);
    this.restore = () =>
      Object.assign(proto, {
        C_FindObjectsInit: originals.init,
        C_FindObjects: originals.find,
        C_FindObjectsFinal: originals.final,
      });
    return this;
  }

  take(): { searches: number; searchMs: number } {
    const taken = { searches: this.searches, searchMs: this.searchMs };
    this.searches = 0;
    this.searchMs = 0;
    return taken;
  }

  stop(): void {
    this.restore?.();
  }
}

interface CallCost {
  ms: number;
  searches: number;
  searchMs: number;
}

interface SizeResult {
  /** Keys on the token (may be more than asked for: the token only grows). */
  keys: number;
  objects: number;
  /**
   * The token index's listing (private, secret and public keys with their names), once per process and
   * again on a miss: timed directly, and as the port's first call (listing + lookup), with its searches.
   */
  listingMs: number;
  firstCall: CallCost;
  /** Per call, averaged over the sample: the port's calls as the preflight and wrap phases make them. */
  describeKey: CallCost;
  wrapKey: CallCost;
  hmac: CallCost;
  /** findSourceKey (one search per key class) against one search by label and id, class read after. */
  findSourceKeyMs: number;
  oneSearchMs: number;
}

async function timeCalls(
  sample: SampleKey[],
  counter: SearchCounter,
  call: (key: SampleKey) => Promise<unknown>,
): Promise<CallCost> {
  counter.take();
  const started = performance.now();
  for (const key of sample) await call(key);
  const { searches, searchMs } = counter.take();
  const n = sample.length;
  return { ms: (performance.now() - started) / n, searches: searches / n, searchMs: searchMs / n };
}

async function measureSize(env: BenchEnv, size: number, counter: SearchCounter): Promise<SizeResult> {
  const keys = await env.keys(size);
  const pool = keys.filter((key) => key.kind.type !== "rsa");
  const sample = Array.from({ length: SAMPLE }, (_, n) => pool[Math.floor((n * pool.length) / SAMPLE)]!);
  const hmacSample = pool.filter((key) => key.kind.type === "hmac").slice(-SAMPLE);
  const wrappingPublicKeyDer = newKeyPairSync({ type: "rsa", modulusLength: 2048 }).publicKey.export({
    type: "spki",
    format: "der",
  });
  const hsm: HsmPort = await openPkcs11Hsm(env.token.hsmConfig, { sessions: 1 });
  try {
    const capabilities = await hsm.capabilities();
    const ref = (key: SampleKey) => ({ label: key.label, idHex: key.idHex });
    // The port's first lookup lists the token into its index.
    const firstCall = await timeCalls([sample[0]!], counter, (key) => hsm.describeKey(ref(key)));
    const describeKey = await timeCalls(sample, counter, (key) => hsm.describeKey(ref(key)));
    const plans = new Map<string, { plan: ReturnType<typeof chooseWrapPlan>; fingerprint: string }>();
    for (const key of sample) {
      const described = await hsm.describeKey(ref(key));
      plans.set(key.label, {
        plan: chooseWrapPlan(described.keySpec!, capabilities),
        fingerprint: described.fingerprint,
      });
    }
    // As the wrap phase calls it: the fingerprint check in the wrap's own session.
    const wrapKey = await timeCalls(sample, counter, async (key) => {
      const { plan, fingerprint } = plans.get(key.label)!;
      if ("unsupported" in plan) throw new Error(plan.unsupported);
      await hsm.wrapKey(ref(key), { wrappingPublicKeyDer, plan, expectedFingerprint: fingerprint });
    });
    const hmac = await timeCalls(hmacSample, counter, (key) => hsm.hmac(ref(key), Buffer.alloc(32)));
    const searches = await withTokenSession(env.token.env, async (pkcs11, session) => {
      const objects = findObjects(pkcs11, session, []).length;
      const listingStarted = performance.now();
      await listTokenKeys(pkcs11, session);
      const listingMs = performance.now() - listingStarted;
      const time = (search: (key: SampleKey) => unknown) => {
        const started = performance.now();
        for (const key of sample) search(key);
        return (performance.now() - started) / sample.length;
      };
      const findSourceKeyMs = time((key) => findSourceKey(pkcs11, session, ref(key), "bench"));
      const oneSearchMs = time((key) =>
        findObjects(pkcs11, session, [
          { type: pkcs11js.CKA_LABEL, value: key.label },
          { type: pkcs11js.CKA_ID, value: Buffer.from(key.idHex, "hex") },
        ]).map((handle) => pkcs11.C_GetAttributeValue(session, handle, [{ type: pkcs11js.CKA_CLASS }])),
      );
      return { objects, listingMs, findSourceKeyMs, oneSearchMs };
    });
    return { keys: env.poolSize, firstCall, describeKey, wrapKey, hmac, ...searches };
  } finally {
    await hsm.close();
  }
}

const ms = (value: number) => `${value.toFixed(2)} ms`;

/**
 * What the HSM phases cost as the token grows (SoftHSM2 2.6.1's file store, whose every search reads the whole
 * token), and how much of it is object searches: the port resolves keys through its token index (one listing
 * per process, then a read of the key's handle per call), so a key costs the preflight's describeKey and the
 * wrap phase's wrapKey with its fingerprint check (+ hmac for HMAC keys) with no search, and the listing is
 * reported on its own. A search by label and id is timed beside them: what each lookup cost before the index.
 * Runs in this process, one session, no KMS.
 */
export const hsmSearchScenario: Scenario = {
  name: "hsm-search",
  description: "object searches per HSM call and their cost as the SoftHSM2 token grows (100 to 5,000 keys)",
  keysNeeded: (quick) => (quick ? 400 : 5000),
  async run(context) {
    // The token only grows: sizes below what earlier scenarios made are measured at the current size. Run
    // this scenario alone (or first) for the whole curve.
    const wanted = context.quick ? [100, 400] : [100, 500, 1000, 2000, 5000];
    const sizes = [...new Set(wanted.map((size) => Math.max(size, context.env.poolSize)))];
    const counter = new SearchCounter().start();
    const results: SizeResult[] = [];
    try {
      for (const size of sizes) results.push(await measureSize(context.env, size, counter));
    } finally {
      counter.stop();
    }
    context.record("hsm-search", results);
    const figures: Figure[] = [];
    for (const r of results) {
      const scenario = `8 hsm-search ${r.keys} keys`;
      // Preflight: describeKey; wrap: wrapKey with the fingerprint check (+ hmac for HMAC keys, not counted).
      const perKey = {
        searches: r.describeKey.searches + r.wrapKey.searches,
        searchMs: r.describeKey.searchMs + r.wrapKey.searchMs,
        ms: r.describeKey.ms + r.wrapKey.ms,
      };
      figures.push(
        info(scenario, "token objects", r.objects),
        info(
          scenario,
          "index listing (once per process): ms / first call ms / its searches",
          `${ms(r.listingMs)} / ${ms(r.firstCall.ms)} / ${r.firstCall.searches.toFixed(0)}`,
        ),
        info(
          scenario,
          "describeKey: ms / searches / search ms",
          `${ms(r.describeKey.ms)} / ${r.describeKey.searches.toFixed(1)} / ${ms(r.describeKey.searchMs)}`,
        ),
        info(
          scenario,
          "wrapKey: ms / searches / search ms",
          `${ms(r.wrapKey.ms)} / ${r.wrapKey.searches.toFixed(1)} / ${ms(r.wrapKey.searchMs)}`,
        ),
        info(
          scenario,
          "hmac: ms / searches / search ms",
          `${ms(r.hmac.ms)} / ${r.hmac.searches.toFixed(1)} / ${ms(r.hmac.searchMs)}`,
        ),
        info(
          scenario,
          "HSM ms per key (describeKey + wrapKey)",
          `${ms(perKey.ms)}, of which ${perKey.searches.toFixed(1)} searches ${ms(perKey.searchMs)}`,
        ),
        info(
          scenario,
          "a search, as before the index: findSourceKey vs one by label+id",
          `${ms(r.findSourceKeyMs)} vs ${ms(r.oneSearchMs)}`,
        ),
      );
    }
    return figures;
  },
};
