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
  averageChannels(input, pixels, channels, output, 0, channels);
}

/**
 * global_avg_pool_f32 for channels [channelStart, channelEnd) only, where
 * channelStart is a multiple of 4. Threads split a pool this way.
 */
export function global_avg_pool_channels_f32(
  input: usize, pixels: i32, channels: i32, output: usize, channelStart: i32, channelEnd: i32,
): void {
  averageChannels(input, pixels, channels, output, max<i32>(channelStart, 0) & ~3, min<i32>(channelEnd, channels));
}

/**
 * Adds one run of up to RUN_PIXELS pixels of a 4-channel column in f32 and
 * returns the sum; the caller adds it into f64 totals.
 */
// @ts-ignore: decorator
@inline function runSum(column: usize, rowBytes: usize, start: i32, end: i32): v128 {
  let run = f32x4.splat(0);
  for (let p = start; p < end; p++) {
    run = f32x4.add(run, v128.load(column + <usize>p * rowBytes));
  }
  return run;
}

/** Scales two f64x2 totals to means and stores the valid lanes of channels c..c+3. */
// @ts-ignore: decorator
@inline function storeMean(output: usize, c: i32, end: i32, low: v128, high: v128, inversePixels: f64): void {
  const scale = f64x2.splat(inversePixels);
  const mean = i32x4.shuffle(
    f32x4.demote_f64x2_zero(f64x2.mul(low, scale)),
    f32x4.demote_f64x2_zero(f64x2.mul(high, scale)),
    0, 1, 4, 5,
  );
  const target = output + (<usize>c << 2);
  if (c + 4 <= end) v128.store(target, mean);
  else storeLanes(target, mean, end - c);
}

function averageChannels(input: usize, pixels: i32, channels: i32, output: usize, first: i32, end: i32): void {
  const rowBytes = <usize>channels << 2;
  const inversePixels: f64 = pixels > 0 ? 1.0 / <f64>pixels : 0.0;
  let c = first;
  if (ASC_FEATURE_SIMD) {
    // Blocks of 8 channels walk the map half as often as blocks of 4. Every lane
    // adds the same values in the same order either way.
    for (; c + 8 <= end; c += 8) {
      const column = input + (<usize>c << 2);
      let low0 = f64x2.splat(0);
      let high0 = f64x2.splat(0);
      let low1 = f64x2.splat(0);
      let high1 = f64x2.splat(0);
      for (let start = 0; start < pixels; start += RUN_PIXELS) {
        const stop = min<i32>(start + RUN_PIXELS, pixels);
        let run0 = f32x4.splat(0);
        let run1 = f32x4.splat(0);
        for (let p = start; p < stop; p++) {
          const pixel = column + <usize>p * rowBytes;
          run0 = f32x4.add(run0, v128.load(pixel));
          run1 = f32x4.add(run1, v128.load(pixel, 16));
        }
        low0 = f64x2.add(low0, f64x2.promote_low_f32x4(run0));
        high0 = f64x2.add(high0, f64x2.promote_low_f32x4(i32x4.shuffle(run0, run0, 2, 3, 2, 3)));
        low1 = f64x2.add(low1, f64x2.promote_low_f32x4(run1));
        high1 = f64x2.add(high1, f64x2.promote_low_f32x4(i32x4.shuffle(run1, run1, 2, 3, 2, 3)));
      }
      storeMean(output, c, end, low0, high0, inversePixels);
      storeMean(output, c + 4, end, low1, high1, inversePixels);
    }
    // The last block may run past the range, because reading up to 12 bytes past
    // the input is allowed and only the valid lanes are stored.
    for (; c < end; c += 4) {
      const column = input + (<usize>c << 2);
      let low = f64x2.splat(0);
      let high = f64x2.splat(0);
      for (let start = 0; start < pixels; start += RUN_PIXELS) {
        const run = runSum(column, rowBytes, start, min<i32>(start + RUN_PIXELS, pixels));
        low = f64x2.add(low, f64x2.promote_low_f32x4(run));
        high = f64x2.add(high, f64x2.promote_low_f32x4(i32x4.shuffle(run, run, 2, 3, 2, 3)));
      }
      storeMean(output, c, end, low, high, inversePixels);
    }
  } else {
    for (; c < end; c++) {
      const column = input + (<usize>c << 2);
      let total: f64 = 0;
      for (let start = 0; start < pixels; start += RUN_PIXELS) {
        const stop = min<i32>(start + RUN_PIXELS, pixels);
        let run: f32 = 0;
        for (let p = start; p < stop; p++) run += load<f32>(column + <usize>p * rowBytes);
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
