// Addition of two integer-quantized tensors onto a third grid, as a quantized
// residual ADD computes it.
import { storeLanes } from '../shared/lanes';

/**
 * output = clamp(nearest(a * aScale + b * bScale), low, high) over count floats,
 * where a and b hold zero-point-relative integers and the scales are each
 * input's scale divided by the output's. output may alias a or b.
 */
export function add_requantize_f32(
  a: usize, aScale: f32, b: usize, bScale: f32, output: usize, count: i32, low: f32, high: f32,
): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const aVector = f32x4.splat(aScale);
    const bVector = f32x4.splat(bScale);
    const lowVector = f32x4.splat(low);
    const highVector = f32x4.splat(high);
    for (; i < count; i += 4) {
      const offset = <usize>i << 2;
      const sum = f32x4.add(f32x4.mul(v128.load(a + offset), aVector), f32x4.mul(v128.load(b + offset), bVector));
      const clamped = f32x4.min(f32x4.max(f32x4.nearest(sum), lowVector), highVector);
      if (i + 4 <= count) v128.store(output + offset, clamped);
      else storeLanes(output + offset, clamped, count - i);
    }
  } else {
    for (; i < count; i++) {
      const offset = <usize>i << 2;
      const sum = load<f32>(a + offset) * aScale + load<f32>(b + offset) * bScale;
      store<f32>(output + offset, min<f32>(max<f32>(nearest<f32>(sum), low), high));
    }
  }
}
