// Depthwise convolution with depth multiplier 1.
//
// input [1, inH, inW, C], weight [kernel, kernel, C], output [1, outH, outW, C].
// Padding is given as padTop/padLeft; the bottom and right padding are whatever
// outH/outW imply. Taps that fall in the padding contribute zero.
//
// Each output row splits into a left border, an interior and a right border.
// Border pixels (and every pixel of a border row) go through dwconvPixel, which
// clips the window to the image. Interior pixels of interior rows need no bounds
// checks: 3x3 and 5x5 windows take an unrolled path (any stride), and other
// sizes take dwconvPixel with the full window.
//
// SIMD: vectorized over channels, 16 per block in four independent accumulators,
// then blocks of 4 whose last one stores only the valid lanes. A block of 4 at
// the channel tail reads up to 12 bytes past the input or weight row, which the
// over-read contract allows.
import { activateScalar, activateVector } from '../shared/activation';
import { storeLanes } from '../shared/lanes';

/**
 * Computes channels [channelStart, channels) of one output pixel from a window of
 * rows x cols taps. firstInput and firstWeight point at the first tap of the
 * window (channel 0); consecutive taps are channels * 4 bytes apart in both.
 */
function dwconvPixel(
  firstInput: usize, firstWeight: usize, rows: i32, cols: i32,
  inRowBytes: usize, weightRowBytes: usize,
  channels: i32, channelStart: i32, bias: usize, target: usize, activation: i32,
): void {
  const tapBytes = <usize>channels << 2;
  let c = channelStart;
  if (ASC_FEATURE_SIMD) {
    for (; c + 16 <= channels; c += 16) {
      const channelOffset = <usize>c << 2;
      let acc0 = f32x4.splat(0);
      let acc1 = f32x4.splat(0);
      let acc2 = f32x4.splat(0);
      let acc3 = f32x4.splat(0);
      if (bias != 0) {
        acc0 = v128.load(bias + channelOffset);
        acc1 = v128.load(bias + channelOffset, 16);
        acc2 = v128.load(bias + channelOffset, 32);
        acc3 = v128.load(bias + channelOffset, 48);
      }
      let row = firstInput + channelOffset;
      let taps = firstWeight + channelOffset;
      for (let ky = 0; ky < rows; ky++) {
        let x = row;
        let w = taps;
        for (let kx = 0; kx < cols; kx++) {
          acc0 = f32x4.add(acc0, f32x4.mul(v128.load(x), v128.load(w)));
          acc1 = f32x4.add(acc1, f32x4.mul(v128.load(x, 16), v128.load(w, 16)));
          acc2 = f32x4.add(acc2, f32x4.mul(v128.load(x, 32), v128.load(w, 32)));
          acc3 = f32x4.add(acc3, f32x4.mul(v128.load(x, 48), v128.load(w, 48)));
          x += tapBytes;
          w += tapBytes;
        }
        row += inRowBytes;
        taps += weightRowBytes;
      }
      const result = target + channelOffset;
      v128.store(result, activateVector(acc0, activation));
      v128.store(result, activateVector(acc1, activation), 16);
      v128.store(result, activateVector(acc2, activation), 32);
      v128.store(result, activateVector(acc3, activation), 48);
    }
    for (; c < channels; c += 4) {
      const channelOffset = <usize>c << 2;
      let acc = bias != 0 ? v128.load(bias + channelOffset) : f32x4.splat(0);
      let row = firstInput + channelOffset;
      let taps = firstWeight + channelOffset;
      for (let ky = 0; ky < rows; ky++) {
        let x = row;
        let w = taps;
        for (let kx = 0; kx < cols; kx++) {
          acc = f32x4.add(acc, f32x4.mul(v128.load(x), v128.load(w)));
          x += tapBytes;
          w += tapBytes;
        }
        row += inRowBytes;
        taps += weightRowBytes;
      }
      const value = activateVector(acc, activation);
      if (c + 4 <= channels) v128.store(target + channelOffset, value);
      else storeLanes(target + channelOffset, value, channels - c);
    }
  } else {
    for (; c < channels; c++) {
      const channelOffset = <usize>c << 2;
      let acc: f32 = bias != 0 ? load<f32>(bias + channelOffset) : 0;
      let row = firstInput + channelOffset;
      let taps = firstWeight + channelOffset;
      for (let ky = 0; ky < rows; ky++) {
        let x = row;
        let w = taps;
        for (let kx = 0; kx < cols; kx++) {
          acc += load<f32>(x) * load<f32>(w);
          x += tapBytes;
          w += tapBytes;
        }
        row += inRowBytes;
        taps += weightRowBytes;
      }
      store<f32>(target + channelOffset, activateScalar(acc, activation));
    }
  }
}

/**
 * Computes count output pixels of one row whose 3x3 windows lie inside the
 * image. first is the input pixel under tap (0, 0) of the first output pixel;
 * strideBytes is the step between consecutive windows.
 */
function dwconvRow3x3(
  first: usize, count: i32, strideBytes: usize, inRowBytes: usize,
  weight: usize, channels: i32, bias: usize, target: usize, activation: i32,
): void {
  const tapBytes = <usize>channels << 2;
  const weightRowBytes = <usize>3 * tapBytes;
  for (let i = 0; i < count; i++) {
    const window = first + <usize>i * strideBytes;
    const out = target + <usize>i * tapBytes;
    let c = 0;
    for (; c + 16 <= channels; c += 16) {
      const channelOffset = <usize>c << 2;
      let acc0 = f32x4.splat(0);
      let acc1 = f32x4.splat(0);
      let acc2 = f32x4.splat(0);
      let acc3 = f32x4.splat(0);
      if (bias != 0) {
        acc0 = v128.load(bias + channelOffset);
        acc1 = v128.load(bias + channelOffset, 16);
        acc2 = v128.load(bias + channelOffset, 32);
        acc3 = v128.load(bias + channelOffset, 48);
      }
      let row = window + channelOffset;
      let taps = weight + channelOffset;
      for (let ky = 0; ky < 3; ky++) {
        const x0 = row;
        const w0 = taps;
        const x1 = row + tapBytes;
        const w1 = taps + tapBytes;
        const x2 = row + 2 * tapBytes;
        const w2 = taps + 2 * tapBytes;
        acc0 = f32x4.add(acc0, f32x4.mul(v128.load(x0), v128.load(w0)));
        acc1 = f32x4.add(acc1, f32x4.mul(v128.load(x0, 16), v128.load(w0, 16)));
        acc2 = f32x4.add(acc2, f32x4.mul(v128.load(x0, 32), v128.load(w0, 32)));
        acc3 = f32x4.add(acc3, f32x4.mul(v128.load(x0, 48), v128.load(w0, 48)));

        acc0 = f32x4.add(acc0, f32x4.mul(v128.load(x1), v128.load(w1)));
        acc1 = f32x4.add(acc1, f32x4.mul(v128.load(x1, 16), v128.load(w1, 16)));
        acc2 = f32x4.add(acc2, f32x4.mul(v128.load(x1, 32), v128.load(w1, 32)));
        acc3 = f32x4.add(acc3, f32x4.mul(v128.load(x1, 48), v128.load(w1, 48)));

        acc0 = f32x4.add(acc0, f32x4.mul(v128.load(x2), v128.load(w2)));
        acc1 = f32x4.add(acc1, f32x4.mul(v128.load(x2, 16), v128.load(w2, 16)));
        acc2 = f32x4.add(acc2, f32x4.mul(v128.load(x2, 32), v128.load(w2, 32)));
        acc3 = f32x4.add(acc3, f32x4.mul(v128.load(x2, 48), v128.load(w2, 48)));

        row += inRowBytes;
        taps += weightRowBytes;
      }
      const result = out + channelOffset;
      v128.store(result, activateVector(acc0, activation));
      v128.store(result, activateVector(acc1, activation), 16);
      v128.store(result, activateVector(acc2, activation), 32);
      v128.store(result, activateVector(acc3, activation), 48);
    }
    if (c < channels) {
      dwconvPixel(window, weight, 3, 3, inRowBytes, weightRowBytes, channels, c, bias, out, activation);
    }
  }
}

/**
 * Computes count output pixels of one row whose 5x5 windows lie inside the
 * image. first is the input pixel under tap (0, 0) of the first output pixel;
 * strideBytes is the step between consecutive windows.
 */
function dwconvRow5x5(
  first: usize, count: i32, strideBytes: usize, inRowBytes: usize,
  weight: usize, channels: i32, bias: usize, target: usize, activation: i32,
): void {
  const tapBytes = <usize>channels << 2;
  const weightRowBytes = <usize>5 * tapBytes;
  for (let i = 0; i < count; i++) {
    const window = first + <usize>i * strideBytes;
    const out = target + <usize>i * tapBytes;
    let c = 0;
    for (; c + 16 <= channels; c += 16) {
      const channelOffset = <usize>c << 2;
      let acc0 = f32x4.splat(0);
      let acc1 = f32x4.splat(0);
      let acc2 = f32x4.splat(0);
      let acc3 = f32x4.splat(0);
      if (bias != 0) {
        acc0 = v128.load(bias + channelOffset);
        acc1 = v128.load(bias + channelOffset, 16);
        acc2 = v128.load(bias + channelOffset, 32);
        acc3 = v128.load(bias + channelOffset, 48);
      }
      let row = window + channelOffset;
      let taps = weight + channelOffset;
      for (let ky = 0; ky < 5; ky++) {
        const x0 = row;
        const w0 = taps;
        const x1 = row + tapBytes;
        const w1 = taps + tapBytes;
        const x2 = row + 2 * tapBytes;
        const w2 = taps + 2 * tapBytes;
        const x3 = row + 3 * tapBytes;
        const w3 = taps + 3 * tapBytes;
        const x4 = row + 4 * tapBytes;
        const w4 = taps + 4 * tapBytes;
        acc0 = f32x4.add(acc0, f32x4.mul(v128.load(x0), v128.load(w0)));
        acc1 = f32x4.add(acc1, f32x4.mul(v128.load(x0, 16), v128.load(w0, 16)));
        acc2 = f32x4.add(acc2, f32x4.mul(v128.load(x0, 32), v128.load(w0, 32)));
        acc3 = f32x4.add(acc3, f32x4.mul(v128.load(x0, 48), v128.load(w0, 48)));

        acc0 = f32x4.add(acc0, f32x4.mul(v128.load(x1), v128.load(w1)));
        acc1 = f32x4.add(acc1, f32x4.mul(v128.load(x1, 16), v128.load(w1, 16)));
        acc2 = f32x4.add(acc2, f32x4.mul(v128.load(x1, 32), v128.load(w1, 32)));
        acc3 = f32x4.add(acc3, f32x4.mul(v128.load(x1, 48), v128.load(w1, 48)));

        acc0 = f32x4.add(acc0, f32x4.mul(v128.load(x2), v128.load(w2)));
        acc1 = f32x4.add(acc1, f32x4.mul(v128.load(x2, 16), v128.load(w2, 16)));
        acc2 = f32x4.add(acc2, f32x4.mul(v128.load(x2, 32), v128.load(w2, 32)));
        acc3 = f32x4.add(acc3, f32x4.mul(v128.load(x2, 48), v128.load(w2, 48)));

        acc0 = f32x4.add(acc0, f32x4.mul(v128.load(x3), v128.load(w3)));
        acc1 = f32x4.add(acc1, f32x4.mul(v128.load(x3, 16), v128.load(w3, 16)));
        acc2 = f32x4.add(acc2, f32x4.mul(v128.load(x3, 32), v128.load(w3, 32)));
        acc3 = f32x4.add(acc3, f32x4.mul(v128.load(x3, 48), v128.load(w3, 48)));

        acc0 = f32x4.add(acc0, f32x4.mul(v128.load(x4), v128.load(w4)));
        acc1 = f32x4.add(acc1, f32x4.mul(v128.load(x4, 16), v128.load(w4, 16)));
        acc2 = f32x4.add(acc2, f32x4.mul(v128.load(x4, 32), v128.load(w4, 32)));
        acc3 = f32x4.add(acc3, f32x4.mul(v128.load(x4, 48), v128.load(w4, 48)));

        row += inRowBytes;
        taps += weightRowBytes;
      }
      const result = out + channelOffset;
      v128.store(result, activateVector(acc0, activation));
      v128.store(result, activateVector(acc1, activation), 16);
      v128.store(result, activateVector(acc2, activation), 32);
      v128.store(result, activateVector(acc3, activation), 48);
    }
    if (c < channels) {
      dwconvPixel(window, weight, 5, 5, inRowBytes, weightRowBytes, channels, c, bias, out, activation);
    }
  }
}

/** First output index whose window starts at or after input index 0. */
// @ts-ignore: decorator
@inline function interiorStart(pad: i32, stride: i32, outSize: i32): i32 {
  return min<i32>((pad + stride - 1) / stride, outSize);
}

/** One past the last output index whose window ends inside an input of inSize. */
// @ts-ignore: decorator
@inline function interiorEnd(inSize: i32, kernel: i32, pad: i32, stride: i32, start: i32, outSize: i32): i32 {
  const span = inSize - kernel + pad;
  if (span < 0) return start;
  return max<i32>(start, min<i32>(span / stride + 1, outSize));
}

/** Computes act(depthwiseConv(input, weight) + bias); bias 0 means no bias. */
export function dwconv2d_f32(
  input: usize, inH: i32, inW: i32, channels: i32,
  weight: usize, bias: usize,
  output: usize, outH: i32, outW: i32,
  kernel: i32, stride: i32, padTop: i32, padLeft: i32, activation: i32,
): void {
  const tapBytes = <usize>channels << 2;
  const inRowBytes = <usize>inW * tapBytes;
  const weightRowBytes = <usize>kernel * tapBytes;
  const strideBytes = <usize>stride * tapBytes;

  const oyStart = interiorStart(padTop, stride, outH);
  const oyEnd = interiorEnd(inH, kernel, padTop, stride, oyStart, outH);
  const oxStart = interiorStart(padLeft, stride, outW);
  const oxEnd = interiorEnd(inW, kernel, padLeft, stride, oxStart, outW);

  for (let oy = 0; oy < outH; oy++) {
    const iyOrigin = oy * stride - padTop;
    const kyStart = max<i32>(0, -iyOrigin);
    const kyEnd = min<i32>(kernel, inH - iyOrigin);
    const rowTarget = output + <usize>oy * <usize>outW * tapBytes;
    const interiorRow = oy >= oyStart && oy < oyEnd;

    for (let ox = 0; ox < outW; ox++) {
      if (interiorRow && ox == oxStart && oxEnd > oxStart) {
        const first = input + <usize>iyOrigin * inRowBytes + <usize>(ox * stride - padLeft) * tapBytes;
        const count = oxEnd - oxStart;
        const target = rowTarget + <usize>ox * tapBytes;
        let done = false;
        if (ASC_FEATURE_SIMD) {
          if (kernel == 3) {
            dwconvRow3x3(first, count, strideBytes, inRowBytes, weight, channels, bias, target, activation);
            done = true;
          } else if (kernel == 5) {
            dwconvRow5x5(first, count, strideBytes, inRowBytes, weight, channels, bias, target, activation);
            done = true;
          }
        }
        if (!done) {
          for (let i = 0; i < count; i++) {
            dwconvPixel(
              first + <usize>i * strideBytes, weight, kernel, kernel, inRowBytes, weightRowBytes,
              channels, 0, bias, target + <usize>i * tapBytes, activation,
            );
          }
        }
        ox = oxEnd - 1;
        continue;
      }

      const ixOrigin = ox * stride - padLeft;
      const kxStart = max<i32>(0, -ixOrigin);
      const kxEnd = min<i32>(kernel, inW - ixOrigin);
      const target = rowTarget + <usize>ox * tapBytes;
      if (kyEnd <= kyStart || kxEnd <= kxStart) {
        // The whole window lies in the padding: the output is act(bias).
        dwconvPixel(input, weight, 0, 0, inRowBytes, weightRowBytes, channels, 0, bias, target, activation);
        continue;
      }
      const firstInput = input + <usize>(iyOrigin + kyStart) * inRowBytes + <usize>(ixOrigin + kxStart) * tapBytes;
      const firstWeight = weight + <usize>(kyStart * kernel + kxStart) * tapBytes;
      dwconvPixel(
        firstInput, firstWeight, kyEnd - kyStart, kxEnd - kxStart, inRowBytes, weightRowBytes,
        channels, 0, bias, target, activation,
      );
    }
  }
}
