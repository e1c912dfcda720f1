import { fatal } from "../errors.js";
import { decodeUlong } from "./attributes.js";
import type { Handle, Pkcs11 } from "./pkcs11-library.js";

/** How the configuration names the token: by label (preferred) or slot id. */
export interface TokenSelector {
  tokenLabel?: string | undefined;
  slot?: number | undefined;
}

export interface FoundToken {
  slot: Handle;
  label: string;
  manufacturer: string;
  model: string;
  firmware: string;
}

/** Finds the slot of the token with the label (or the slot id); fatal HSM_TOKEN_NOT_FOUND naming what exists. */
export function findToken(pkcs11: Pkcs11, selector: TokenSelector): FoundToken {
  const tokens = pkcs11.C_GetSlotList(true).map((slot) => {
    const info = pkcs11.C_GetTokenInfo(slot);
    return {
      slot,
      slotId: decodeUlong(slot),
      label: info.label.trimEnd(),
      manufacturer: info.manufacturerID.trimEnd(),
      model: info.model.trimEnd(),
      firmware: `${info.firmwareVersion.major}.${info.firmwareVersion.minor}`,
    };
  });
  const matches = tokens.filter(
    (token) =>
      (selector.tokenLabel === undefined || token.label === selector.tokenLabel) &&
      (selector.slot === undefined || token.slotId === selector.slot),
  );
  const wanted =
    selector.tokenLabel !== undefined ? `label "${selector.tokenLabel}"` : `slot ${selector.slot ?? "?"}`;
  const present = tokens.map((token) => `"${token.label}" (slot ${token.slotId})`).join(", ") || "none";
  const found = matches[0];
  if (!found) throw fatal("HSM_TOKEN_NOT_FOUND", `no token with ${wanted}; tokens present: ${present}`);
  if (matches.length > 1)
    throw fatal(
      "HSM_TOKEN_AMBIGUOUS",
      `${matches.length} tokens have ${wanted}: ${present}; set HSM2KMS_PKCS11_SLOT to pick one`,
    );
  const { slotId: _slotId, ...token } = found;
  return token;
}
