/**
 * Modular arithmetic on bigints, for the few places node:crypto offers no primitive (the KMS emulator's
 * signatures over a given digest, test fixtures that assemble multi-prime RSA keys).
 */

/** `a` mod `n` in [0, n), whatever the sign of `a`. */
export function mod(a: bigint, n: bigint): bigint {
  return ((a % n) + n) % n;
}

/**
 * The inverse of `a` modulo `n` (extended Euclid). `a` and `n` must be coprime: otherwise there is no inverse
 * and this throws rather than return a number that is not one.
 */
export function modInverse(a: bigint, n: bigint): bigint {
  let [r0, r1, s0, s1] = [mod(a, n), n, 1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1, s0, s1] = [r1, r0 - q * r1, s1, s0 - q * s1];
  }
  if (r0 !== 1n) throw new RangeError("no modular inverse: the numbers are not coprime");
  return mod(s0, n);
}
