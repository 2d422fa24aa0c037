// Global average and max pooling of an NHWC map [1, H, W, C] viewed as
// [pixels, channels], producing [channels].
//
// The mean adds f32 partial sums over runs of RUN_PIXELS pixels into f64 totals.
// A run's f32 sum loses little, and the f64 total keeps a 600x600 map of values
// near 1e3 accurate to about 1 ULP of the mean, where a plain f32 sum would drift.
import { storeLanes } from '../shared/lanes';

const RUN_PIXELS: i32 = 32;

/** output[c] = mean over pixels of input[p, c]; output is 0 when pixels is 0. */
export function global_avg_pool_f32(input: usize, pixels: i32, channels: i32, output: usize): void {
  const rowBytes = <usize>channels << 2;
  const inversePixels: f64 = pixels > 0 ? 1.0 / <f64>pixels : 0.0;
  let c = 0;
  if (ASC_FEATURE_SIMD) {
    // Blocks of 4 channels. The last block may run past channels, because reading
    // up to 12 bytes past the input is allowed and only the valid lanes are stored.
    for (; c < channels; c += 4) {
      const column = input + (<usize>c << 2);
      let totalLow = f64x2.splat(0);
      let totalHigh = f64x2.splat(0);
      for (let start = 0; start < pixels; start += RUN_PIXELS) {
        const end = min<i32>(start + RUN_PIXELS, pixels);
        let run = f32x4.splat(0);
        for (let p = start; p < end; p++) {
          run = f32x4.add(run, v128.load(column + <usize>p * rowBytes));
        }
        totalLow = f64x2.add(totalLow, f64x2.promote_low_f32x4(run));
        totalHigh = f64x2.add(totalHigh, f64x2.promote_low_f32x4(i32x4.shuffle(run, run, 2, 3, 2, 3)));
      }
      const scale = f64x2.splat(inversePixels);
      const mean = i32x4.shuffle(
        f32x4.demote_f64x2_zero(f64x2.mul(totalLow, scale)),
        f32x4.demote_f64x2_zero(f64x2.mul(totalHigh, scale)),
        0, 1, 4, 5,
      );
      const target = output + (<usize>c << 2);
      if (c + 4 <= channels) v128.store(target, mean);
      else storeLanes(target, mean, channels - c);
    }
  } else {
    for (; c < channels; c++) {
      const column = input + (<usize>c << 2);
      let total: f64 = 0;
      for (let start = 0; start < pixels; start += RUN_PIXELS) {
        const end = min<i32>(start + RUN_PIXELS, pixels);
        let run: f32 = 0;
        for (let p = start; p < end; p++) run += load<f32>(column + <usize>p * rowBytes);
        total += <f64>run;
      }
      store<f32>(output + (<usize>c << 2), <f32>(total * inversePixels));
    }
  }
}

/** output[c] = max over pixels of input[p, c]; output is 0 when pixels is 0. */
export function global_max_pool_f32(input: usize, pixels: i32, channels: i32, output: usize): void {
  const rowBytes = <usize>channels << 2;
  let c = 0;
  if (ASC_FEATURE_SIMD) {
    for (; c < channels; c += 4) {
      const column = input + (<usize>c << 2);
      let largest = f32x4.splat(0);
      if (pixels > 0) {
        largest = v128.load(column);
        for (let p = 1; p < pixels; p++) largest = f32x4.max(largest, v128.load(column + <usize>p * rowBytes));
      }
      const target = output + (<usize>c << 2);
      if (c + 4 <= channels) v128.store(target, largest);
      else storeLanes(target, largest, channels - c);
    }
  } else {
    for (; c < channels; c++) {
      const column = input + (<usize>c << 2);
      let largest: f32 = 0;
      if (pixels > 0) {
        largest = load<f32>(column);
        for (let p = 1; p < pixels; p++) largest = max<f32>(largest, load<f32>(column + <usize>p * rowBytes));
      }
      store<f32>(output + (<usize>c << 2), largest);
    }
  }
}
