import type { PhaseName } from "../../shared/migration.js";
import type { Phase } from "./context.js";
import { create } from "./create.js";
import { importMaterial } from "./import.js";
import { params } from "./params.js";
import { preflight } from "./preflight.js";
import { verify } from "./verify.js";
import { wrap } from "./wrap.js";

export type { Phase, PhaseContext, PhaseOutcome, PhaseSettings } from "./context.js";
export { PROVENANCE_TAGS } from "./provenance.js";

/** Every phase by name. */
export const PHASE_FUNCTIONS: Record<PhaseName, Phase> = {
  preflight,
  create,
  params,
  wrap,
  import: importMaterial,
  verify,
};
