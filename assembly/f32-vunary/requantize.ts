// Requantization of integer accumulators held in floats, the last step of an
// integer-quantized layer: q - zeroPoint = clamp(round(acc * multiplier), low, high).
import { storeLanes } from '../shared/lanes';

/**
 * Replaces each value x of a [pixels, channels] map in place by
 * clamp(nearest(x * multipliers[c]), low, high), rounding ties to even as an
 * fp32 requantization does. multipliers contains one value per channel, or one
 * for all channels when perChannel is 0. low and high are in the same
 * zero-point-relative units as the result.
 */
export function requantize_f32(
  data: usize, pixels: i32, channels: i32, multipliers: usize, perChannel: i32, low: f32, high: f32,
): void {
  const rowBytes = <usize>channels << 2;
  if (ASC_FEATURE_SIMD) {
    const lowVector = f32x4.splat(low);
    const highVector = f32x4.splat(high);
    const shared = f32x4.splat(load<f32>(multipliers));
    for (let p = 0; p < pixels; p++) {
      const row = data + <usize>p * rowBytes;
      for (let c = 0; c < channels; c += 4) {
        const offset = <usize>c << 2;
        const multiplier = perChannel ? v128.load(multipliers + offset) : shared;
        const scaled = f32x4.nearest(f32x4.mul(v128.load(row + offset), multiplier));
        const clamped = f32x4.min(f32x4.max(scaled, lowVector), highVector);
        if (c + 4 <= channels) v128.store(row + offset, clamped);
        else storeLanes(row + offset, clamped, channels - c);
      }
    }
  } else {
    for (let p = 0; p < pixels; p++) {
      const row = data + <usize>p * rowBytes;
      for (let c = 0; c < channels; c++) {
        const offset = <usize>c << 2;
        const multiplier = perChannel ? load<f32>(multipliers + offset) : load<f32>(multipliers);
        const scaled = nearest<f32>(load<f32>(row + offset) * multiplier);
        store<f32>(row + offset, min<f32>(max<f32>(scaled, low), high));
      }
    }
  }
}
