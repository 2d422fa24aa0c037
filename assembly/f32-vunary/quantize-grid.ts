// Rounding onto an affine quantization grid, which reproduces the values an
// integer-quantized model would carry between layers.
import { storeLanes } from '../shared/lanes';

/**
 * Replaces each of count floats x in place by (q - zeroPoint) * scale, where
 * q = clamp(roundHalfAwayFromZero(x / scale) + zeroPoint, qmin, qmax).
 * x / scale is an f32 division, so a tie is decided on the rounded quotient.
 */
export function quantize_grid_f32(data: usize, count: i32, scale: f32, zeroPoint: i32, qmin: i32, qmax: i32): void {
  const zero = <f32>zeroPoint;
  const low = <f32>qmin;
  const high = <f32>qmax;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const scaleVector = f32x4.splat(scale);
    const zeroVector = f32x4.splat(zero);
    const lowVector = f32x4.splat(low);
    const highVector = f32x4.splat(high);
    const half = f32x4.splat(0.5);
    const one = f32x4.splat(1.0);
    const signMask = i32x4.splat(0x80000000);
    for (; i < count; i += 4) {
      const pointer = data + (<usize>i << 2);
      const quotient = f32x4.div(v128.load(pointer), scaleVector);
      // x - trunc(x) is exact, so comparing its magnitude with 0.5 finds ties exactly.
      const truncated = f32x4.trunc(quotient);
      const roundsAway = f32x4.ge(f32x4.abs(f32x4.sub(quotient, truncated)), half);
      const signedOne = v128.or(v128.and(quotient, signMask), one);
      const rounded = f32x4.add(truncated, v128.and(signedOne, roundsAway));
      const q = f32x4.min(f32x4.max(f32x4.add(rounded, zeroVector), lowVector), highVector);
      const value = f32x4.mul(f32x4.sub(q, zeroVector), scaleVector);
      if (i + 4 <= count) v128.store(pointer, value);
      else storeLanes(pointer, value, count - i);
    }
  } else {
    for (; i < count; i++) {
      const pointer = data + (<usize>i << 2);
      const quotient = load<f32>(pointer) / scale;
      const truncated = trunc<f32>(quotient);
      let rounded = truncated;
      if (abs<f32>(quotient - truncated) >= 0.5) rounded += copysign<f32>(1.0, quotient);
      const q = min<f32>(max<f32>(rounded + zero, low), high);
      store<f32>(pointer, (q - zero) * scale);
    }
  }
}
