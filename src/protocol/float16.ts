/** IEEE 754 half precision <-> JS number, for FP16 tensors written or read as JSON numbers. */

const floatView = new Float32Array(1);
const intView = new Uint32Array(floatView.buffer);

export function toHalfBits(value: number): number {
  floatView[0] = value;
  const x = intView[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0); // Inf / NaN
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00; // overflow -> Inf
  if (halfExponent <= 0) {
    if (halfExponent < -10) return sign; // underflow -> signed zero
    mantissa |= 0x800000;
    const shift = 14 - halfExponent;
    const rounded = (mantissa + (1 << (shift - 1)) - 1 + ((mantissa >>> shift) & 1)) >>> shift;
    return sign | rounded;
  }
  // Round to nearest even; a carry out of the mantissa correctly bumps the exponent.
  const rounded = mantissa + 0xfff + ((mantissa >>> 13) & 1);
  return (sign | (halfExponent << 10)) + (rounded >>> 13);
}

export function fromHalfBits(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}
