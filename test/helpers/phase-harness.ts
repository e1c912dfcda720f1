import { randomBytes } from "node:crypto";
import { isMigrationError, type MigrationError } from "../../src/shared/errors.js";
import type { SourceKeyDescription } from "../../src/shared/hsm/types.js";
import { silentLogger } from "../../src/shared/logger.js";
import {
  type MigrationRecord,
  type MigrationRequest,
  newMigrationRecord,
  type PhaseName,
} from "../../src/shared/migration.js";
import { PHASE_FUNCTIONS, type PhaseContext, type PhaseSettings } from "../../src/workers/phases/index.js";
import { applyOutcome } from "../../src/workers/transitions.js";
import { FakeHsm } from "./fake-hsm.js";
import { FakeKms } from "./fake-kms.js";

/** A controllable clock. */
export class TestClock {
  constructor(public ms = Date.parse("2026-11-28T12:00:00Z")) {}
  now = (): Date => new Date(this.ms);
  advance(ms: number): void {
    this.ms += ms;
  }
}

export const TEST_SETTINGS: PhaseSettings = {
  tokenSafetyMarginMs: 15 * 60_000,
  deletionWindowDays: 7,
  wrappingKeySpec: "RSA_2048",
  toolVersion: "test",
};

/** Fake ports wired into a PhaseContext whose checkpoints land in `checkpoints` and in `record`. */
export function harness() {
  const clock = new TestClock();
  const hsm = new FakeHsm();
  const kms = new FakeKms("us-east-1", clock.now);
  const replicaKms = new FakeKms("eu-west-1", clock.now);
  kms.peers.set("eu-west-1", replicaKms);
  replicaKms.peers = kms.peers;
  const records = new Map<string, MigrationRecord>();
  const checkpoints: Array<Partial<MigrationRecord>> = [];
  const ctx: PhaseContext = {
    hsm: () => hsm,
    kms: (region) => (region === "eu-west-1" ? replicaKms : kms),
    lookup: async (id) => records.get(id),
    now: clock.now,
    randomBytes,
    checkpoint: async (patch) => {
      checkpoints.push(patch);
    },
    logger: silentLogger(),
    settings: TEST_SETTINGS,
  };
  return { clock, hsm, kms, replicaKms, records, ctx, checkpoints };
}

export function recordFor(
  key: Pick<SourceKeyDescription, "label">,
  request: Partial<MigrationRequest> = {},
): MigrationRecord {
  return newMigrationRecord(
    `k-${key.label}`,
    "us-east-1",
    { label: key.label },
    { tags: {}, multiRegion: false, ...request },
    new Date("2026-11-28T12:00:00Z"),
  );
}

/** The MigrationError a phase's promise rejects with; anything else (or no rejection) fails the test. */
export async function phaseRejection(promise: Promise<unknown>): Promise<MigrationError> {
  try {
    await promise;
  } catch (error) {
    if (isMigrationError(error)) return error;
    throw error;
  }
  throw new Error("expected the phase to fail");
}

/**
 * Runs one phase on the harness and applies its outcome (and the checkpoints it made) to the record through
 * the workers' own state machine (src/workers/transitions.ts), as a worker would.
 */
export async function runPhase(
  h: ReturnType<typeof harness>,
  record: MigrationRecord,
  phase: PhaseName,
): Promise<MigrationRecord> {
  const before = h.checkpoints.length;
  const outcome = await PHASE_FUNCTIONS[phase](h.ctx, record);
  const checkpointed: MigrationRecord = Object.assign({ ...record }, ...h.checkpoints.slice(before));
  return applyOutcome(checkpointed, outcome, h.clock.now()).record;
}
