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
// SIMD: vectorized over channels. The unrolled paths take 4 channels at a time
// across a whole row segment, and dwconvPixel takes 16 channels per block in four
// independent accumulators, then blocks of 4. The last block of 4 stores only the
// valid lanes, and reads up to 12 bytes past the input or weight row, which the
// over-read contract allows. Every path stores the linear sums, then applies the
// activation in one pass over the stored pixels (activation_f32, whose swish loop
// is inlined), in place of a call per vector.
import { activateScalar } from '../shared/activation';
import { activation_f32 } from '../f32-vunary/activation';
import { storeLanes } from '../shared/lanes';
import { madd } from '../shared/madd';

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
          acc0 = madd(v128.load(x), v128.load(w), acc0);
          acc1 = madd(v128.load(x, 16), v128.load(w, 16), acc1);
          acc2 = madd(v128.load(x, 32), v128.load(w, 32), acc2);
          acc3 = madd(v128.load(x, 48), v128.load(w, 48), acc3);
          x += tapBytes;
          w += tapBytes;
        }
        row += inRowBytes;
        taps += weightRowBytes;
      }
      const result = target + channelOffset;
      v128.store(result, acc0);
      v128.store(result, acc1, 16);
      v128.store(result, acc2, 32);
      v128.store(result, acc3, 48);
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
          acc = madd(v128.load(x), v128.load(w), acc);
          x += tapBytes;
          w += tapBytes;
        }
        row += inRowBytes;
        taps += weightRowBytes;
      }
      if (c + 4 <= channels) v128.store(target + channelOffset, acc);
      else storeLanes(target + channelOffset, acc, channels - c);
    }
    // One pass over the pixel's channels, with the activation inlined in its loop.
    activation_f32(target + (<usize>channelStart << 2), channels - channelStart, activation);
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
 *
 * Channel blocks are the outer loop, so the block's 9 weight vectors stay in
 * registers while the row is swept: 9 weights, the accumulator and the input
 * temporaries fit in the 16 xmm registers of x64.
 */
function dwconvRow3x3(
  first: usize, count: i32, strideBytes: usize, inRowBytes: usize,
  weight: usize, channels: i32, bias: usize, target: usize, activation: i32,
): void {
  const tapBytes = <usize>channels << 2;
  const twoTaps = tapBytes * 2;
  const twoRows = inRowBytes * 2;
  for (let c = 0; c < channels; c += 4) {
    const channelOffset = <usize>c << 2;
    const w = weight + channelOffset;
    const w00 = v128.load(w);
    const w01 = v128.load(w + tapBytes);
    const w02 = v128.load(w + twoTaps);
    const w10 = v128.load(w + tapBytes * 3);
    const w11 = v128.load(w + tapBytes * 4);
    const w12 = v128.load(w + tapBytes * 5);
    const w20 = v128.load(w + tapBytes * 6);
    const w21 = v128.load(w + tapBytes * 7);
    const w22 = v128.load(w + tapBytes * 8);
    const initial = bias != 0 ? v128.load(bias + channelOffset) : f32x4.splat(0);
    const lanes = channels - c;

    let window = first + channelOffset;
    let out = target + channelOffset;
    for (let i = 0; i < count; i++) {
      const row1 = window + inRowBytes;
      const row2 = window + twoRows;
      let acc = madd(v128.load(window), w00, initial);
      acc = madd(v128.load(window + tapBytes), w01, acc);
      acc = madd(v128.load(window + twoTaps), w02, acc);
      acc = madd(v128.load(row1), w10, acc);
      acc = madd(v128.load(row1 + tapBytes), w11, acc);
      acc = madd(v128.load(row1 + twoTaps), w12, acc);
      acc = madd(v128.load(row2), w20, acc);
      acc = madd(v128.load(row2 + tapBytes), w21, acc);
      acc = madd(v128.load(row2 + twoTaps), w22, acc);

      if (lanes >= 4) v128.store(out, acc);
      else storeLanes(out, acc, lanes);
      window += strideBytes;
      out += tapBytes;
    }
  }
  // The row segment is contiguous in the output, so one pass applies the activation
  // with independent vectors in flight, which runs faster than one call per vector.
  activation_f32(target, count * channels, activation);
}

/**
 * Computes count output pixels of one row whose 5x5 windows lie inside the
 * image, with the same arguments as dwconvRow3x3. The 25 weight vectors do not
 * fit in registers, so each row of 5 taps reloads its weights from L1.
 */
function dwconvRow5x5(
  first: usize, count: i32, strideBytes: usize, inRowBytes: usize,
  weight: usize, channels: i32, bias: usize, target: usize, activation: i32,
): void {
  const tapBytes = <usize>channels << 2;
  const twoTaps = tapBytes * 2;
  const threeTaps = tapBytes * 3;
  const fourTaps = tapBytes * 4;
  const weightRowBytes = tapBytes * 5;
  for (let c = 0; c < channels; c += 4) {
    const channelOffset = <usize>c << 2;
    const initial = bias != 0 ? v128.load(bias + channelOffset) : f32x4.splat(0);
    const lanes = channels - c;

    let window = first + channelOffset;
    let out = target + channelOffset;
    let i = 0;
    // Two output pixels per iteration share each weight load, and each pixel
    // keeps two partial sums (taps 0, 2, 4 and taps 1, 3 of each row), so four
    // independent chains of adds are in flight.
    for (; i + 2 <= count; i += 2) {
      let acc = initial;
      let odd = f32x4.splat(0);
      let bcc = initial;
      let bodd = f32x4.splat(0);
      let row = window;
      let next = window + strideBytes;
      let w = weight + channelOffset;
      for (let ky = 0; ky < 5; ky++) {
        let t = v128.load(w);
        acc = madd(v128.load(row), t, acc);
        bcc = madd(v128.load(next), t, bcc);
        t = v128.load(w + tapBytes);
        odd = madd(v128.load(row + tapBytes), t, odd);
        bodd = madd(v128.load(next + tapBytes), t, bodd);
        t = v128.load(w + twoTaps);
        acc = madd(v128.load(row + twoTaps), t, acc);
        bcc = madd(v128.load(next + twoTaps), t, bcc);
        t = v128.load(w + threeTaps);
        odd = madd(v128.load(row + threeTaps), t, odd);
        bodd = madd(v128.load(next + threeTaps), t, bodd);
        t = v128.load(w + fourTaps);
        acc = madd(v128.load(row + fourTaps), t, acc);
        bcc = madd(v128.load(next + fourTaps), t, bcc);
        row += inRowBytes;
        next += inRowBytes;
        w += weightRowBytes;
      }
      acc = f32x4.add(acc, odd);
      bcc = f32x4.add(bcc, bodd);
      if (lanes >= 4) {
        v128.store(out, acc);
        v128.store(out + tapBytes, bcc);
      } else {
        storeLanes(out, acc, lanes);
        storeLanes(out + tapBytes, bcc, lanes);
      }
      window += strideBytes * 2;
      out += tapBytes * 2;
    }
    for (; i < count; i++) {
      let acc = initial;
      let odd = f32x4.splat(0);
      let row = window;
      let w = weight + channelOffset;
      for (let ky = 0; ky < 5; ky++) {
        acc = madd(v128.load(row), v128.load(w), acc);
        odd = madd(v128.load(row + tapBytes), v128.load(w + tapBytes), odd);
        acc = madd(v128.load(row + twoTaps), v128.load(w + twoTaps), acc);
        odd = madd(v128.load(row + threeTaps), v128.load(w + threeTaps), odd);
        acc = madd(v128.load(row + fourTaps), v128.load(w + fourTaps), acc);
        row += inRowBytes;
        w += weightRowBytes;
      }
      acc = f32x4.add(acc, odd);

      if (lanes >= 4) v128.store(out, acc);
      else storeLanes(out, acc, lanes);
      window += strideBytes;
      out += tapBytes;
    }
  }
  // The row segment is contiguous in the output, so one pass applies the activation
  // with independent vectors in flight, which runs faster than one call per vector.
  activation_f32(target, count * channels, activation);
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
