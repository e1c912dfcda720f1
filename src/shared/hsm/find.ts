import pkcs11js from "pkcs11js";
import { fatal } from "../errors.js";
import { findObjects, readIdHex, readLabel, readUlong } from "./attributes.js";
import type { Handle, Pkcs11 } from "./pkcs11-library.js";
import type { SourceKeyRef } from "./types.js";

/** A private or secret key object on the token, as found (no attributes beyond its names yet). */
export interface SourceKeyObject {
  handle: Handle;
  label: string;
  idHex: string;
  objectClass: "private" | "secret";
}

const KEY_CLASSES = [
  { objectClass: "private", ckoClass: pkcs11js.CKO_PRIVATE_KEY },
  { objectClass: "secret", ckoClass: pkcs11js.CKO_SECRET_KEY },
] as const;

/** How messages name a key reference: `key "label"`, `key id 0a0b`, or both. */
export function describeRef(ref: SourceKeyRef): string {
  if (ref.label !== undefined && ref.idHex !== undefined) return `key "${ref.label}" (id ${ref.idHex})`;
  if (ref.label !== undefined) return `key "${ref.label}"`;
  return `key id ${ref.idHex ?? "?"}`;
}

function idBytes(ref: SourceKeyRef): Buffer {
  const hex = ref.idHex ?? "";
  if (!/^([0-9a-fA-F]{2})+$/.test(hex))
    throw fatal(
      "SOURCE_KEY_REF_INVALID",
      `${describeRef(ref)}: source_id must be hex with an even number of digits`,
    );
  return Buffer.from(hex, "hex");
}

const describeObject = (
  pkcs11: Pkcs11,
  session: Handle,
  handle: Handle,
  objectClass: SourceKeyObject["objectClass"],
) => ({
  handle,
  objectClass,
  label: readLabel(pkcs11, session, handle),
  idHex: readIdHex(pkcs11, session, handle),
});

/**
 * Every private and secret key object matching the template (all of them when it is empty). A search reads
 * the whole token on SoftHSM2 and is a round trip on CloudHSM, and pkcs11js has no asynchronous search: a
 * label or id is searched once and the class read from the few objects found (key, public key, certificate);
 * only the full listing searches per class, so that it reads no attribute of the token's public objects.
 */
export function findKeyObjects(
  pkcs11: Pkcs11,
  session: Handle,
  template: pkcs11js.Template = [],
): SourceKeyObject[] {
  if (template.length === 0)
    return KEY_CLASSES.flatMap(({ objectClass, ckoClass }) =>
      findObjects(pkcs11, session, [{ type: pkcs11js.CKA_CLASS, value: ckoClass }]).map((handle) =>
        describeObject(pkcs11, session, handle, objectClass),
      ),
    );
  return findObjects(pkcs11, session, template).flatMap((handle) => {
    const ckoClass = readUlong(pkcs11, session, handle, pkcs11js.CKA_CLASS);
    const keyClass = KEY_CLASSES.find((candidate) => candidate.ckoClass === ckoClass);
    return keyClass ? [describeObject(pkcs11, session, handle, keyClass.objectClass)] : [];
  });
}

/**
 * Checks that a reference names a key (label and/or id, the id as hex bytes); fatal SOURCE_KEY_REF_INVALID
 * otherwise. Returns CKA_ID's bytes when the reference has an id.
 */
export function checkSourceKeyRef(ref: SourceKeyRef): Buffer | undefined {
  if (ref.label === undefined && ref.idHex === undefined)
    throw fatal("SOURCE_KEY_REF_INVALID", "a source key needs a label (source_label) or an id (source_id)");
  return ref.idHex === undefined ? undefined : idBytes(ref);
}

/**
 * Exactly one private or secret key matching the reference (label and/or id, both must match when both are
 * given); fatal SOURCE_KEY_NOT_FOUND or SOURCE_KEY_AMBIGUOUS otherwise. Searches the token.
 */
export function findSourceKey(
  pkcs11: Pkcs11,
  session: Handle,
  ref: SourceKeyRef,
  tokenLabel: string,
): SourceKeyObject {
  const id = checkSourceKeyRef(ref);
  const template: pkcs11js.Template = [];
  if (ref.label !== undefined) template.push({ type: pkcs11js.CKA_LABEL, value: ref.label });
  if (id !== undefined) template.push({ type: pkcs11js.CKA_ID, value: id });
  return pickSourceKey(findKeyObjects(pkcs11, session, template), ref, tokenLabel);
}

/** SOURCE_KEY_NOT_FOUND for a reference, naming what was looked for and where. */
export function sourceKeyNotFound(ref: SourceKeyRef, tokenLabel: string) {
  const what = ref.label !== undefined ? `label "${ref.label}"` : "";
  const id = ref.idHex !== undefined ? `id ${ref.idHex}` : "";
  return fatal(
    "SOURCE_KEY_NOT_FOUND",
    `no private or secret key with ${[what, id].filter(Boolean).join(" and ")} on token "${tokenLabel}"`,
  );
}

/**
 * The one key among the candidates that match a reference, however they were found (a search or the token
 * index); fatal SOURCE_KEY_NOT_FOUND when there is none, SOURCE_KEY_AMBIGUOUS when there are several.
 */
export function pickSourceKey(
  found: readonly SourceKeyObject[],
  ref: SourceKeyRef,
  tokenLabel: string,
): SourceKeyObject {
  // Sorted so that messages and ledger details do not change with the token's enumeration order.
  const candidates = [...found].sort(
    (a, b) => a.idHex.localeCompare(b.idHex) || a.label.localeCompare(b.label),
  );
  const [only, ...others] = candidates;
  if (!only) throw sourceKeyNotFound(ref, tokenLabel);
  if (others.length > 0) {
    const listed = candidates
      .map((key) => `${key.objectClass} key "${key.label}" id ${key.idHex || "(none)"}`)
      .join("; ");
    throw fatal(
      "SOURCE_KEY_AMBIGUOUS",
      `${candidates.length} keys match ${describeRef(ref)} on token "${tokenLabel}": ${listed}; ` +
        "name one with source_id (and source_label) so that exactly one matches",
      {
        details: {
          candidates: candidates.map(({ label, idHex, objectClass }) => ({ label, idHex, objectClass })),
        },
      },
    );
  }
  return only;
}
