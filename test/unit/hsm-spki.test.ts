import { createPublicKey } from "node:crypto";
import { describe, expect, it } from "vitest";
import { newKeyPairSync } from "../../src/shared/crypto/key-pairs.js";
import {
  decodeOid,
  ecPointFromAttribute,
  ecPublicPoint,
  ecSpki,
  rsaPublicNumbers,
  rsaSpki,
} from "../../src/shared/hsm/spki.js";
import { CURVES } from "../../src/shared/key-specs.js";

describe("SPKI from PKCS#11 attributes", () => {
  it("decodes curve OIDs as CKA_EC_PARAMS holds them", () => {
    for (const curve of Object.values(CURVES))
      expect(decodeOid(Buffer.from(curve.oidDerHex, "hex"))).toBe(curve.oid);
    expect(decodeOid(Buffer.from("300a", "hex"))).toBeUndefined();
    expect(decodeOid(Buffer.from("0608", "hex"))).toBeUndefined();
  });

  it("builds an RSA SPKI equal to node's, also from a modulus with a leading zero byte", () => {
    const { publicKey } = newKeyPairSync({ type: "rsa", modulusLength: 2048 });
    const expected = publicKey.export({ format: "der", type: "spki" });
    const { modulus, publicExponent, bits } = rsaPublicNumbers(expected);
    expect(bits).toBe(2048);
    expect(rsaSpki(modulus, publicExponent)).toEqual(expected);
    expect(rsaSpki(Buffer.concat([Buffer.from([0]), modulus]), publicExponent)).toEqual(expected);
  });

  it.each(Object.values(CURVES))(
    "builds an EC SPKI equal to node's for $nodeName, wrapped or bare point",
    (curve) => {
      const { publicKey } = newKeyPairSync({ type: "ec", namedCurve: curve.nodeName });
      const expected = publicKey.export({ format: "der", type: "spki" });
      const { point } = ecPublicPoint(expected);
      expect(point.length).toBe(1 + 2 * curve.fieldBytes);
      const length = point.length < 128 ? [point.length] : [0x81, point.length];
      const wrapped = Buffer.concat([Buffer.from([0x04, ...length]), point]);
      const params = Buffer.from(curve.oidDerHex, "hex");
      expect(ecPointFromAttribute(wrapped, curve.fieldBytes)).toEqual(point);
      expect(ecPointFromAttribute(point, curve.fieldBytes)).toEqual(point);
      expect(ecSpki(params, point)).toEqual(expected);
    },
  );

  it("normalises a compressed point to the uncompressed SPKI KMS returns", () => {
    const { publicKey } = newKeyPairSync({ type: "ec", namedCurve: "prime256v1" });
    const { point } = ecPublicPoint(publicKey.export({ format: "der", type: "spki" }));
    const y = point.subarray(33);
    const compressed = Buffer.concat([Buffer.from([(y.at(-1) ?? 0) & 1 ? 3 : 2]), point.subarray(1, 33)]);
    const spki = ecSpki(Buffer.from(CURVES.P256.oidDerHex, "hex"), compressed);
    expect(createPublicKey({ key: spki, format: "der", type: "spki" }).equals(publicKey)).toBe(true);
    expect(spki).toEqual(publicKey.export({ format: "der", type: "spki" }));
  });

  it("rejects an EC point attribute that is neither form, and a non-RSA wrapping key", () => {
    expect(() => ecPointFromAttribute(Buffer.from("0405010203", "hex"), 32)).toThrow();
    const { publicKey } = newKeyPairSync({ type: "ec", namedCurve: "prime256v1" });
    expect(() => rsaPublicNumbers(publicKey.export({ format: "der", type: "spki" }))).toThrow(
      /expected an RSA key/,
    );
  });
});
