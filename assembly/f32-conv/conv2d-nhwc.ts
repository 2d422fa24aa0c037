// Regular k x k convolution over all input channels, used for the stem
// (3x3, stride 2, 3 input channels in EfficientNet).
//
// input [1, inH, inW, inC], weight [kernel, kernel, inC, outC] (HWIO),
// output [1, outH, outW, outC]. Each output pixel accumulates over the taps that
// fall inside the image. Taps in the padding contribute zero and are skipped, so
// one loop handles the interior and every border.
//
// SIMD: vectorized over output channels, 16 per block in four accumulators,
// then blocks of 4 whose last one stores only the valid lanes. The activation is
// applied to each finished output row.
import { activation_f32 } from '../f32-vunary/activation';
import { storeLanes } from '../shared/lanes';
import { madd } from '../shared/madd';

/** Computes act(conv(input, weight) + bias); bias 0 means no bias. */
export function conv2d_f32(
  input: usize, inH: i32, inW: i32, inC: i32,
  weight: usize, bias: usize,
  output: usize, outH: i32, outW: i32, outC: i32,
  kernel: i32, stride: i32, padTop: i32, padLeft: i32, activation: i32,
): void {
  const inPixelBytes = <usize>inC << 2;
  const inRowBytes = <usize>inW * inPixelBytes;
  const weightTapBytes = <usize>inC * (<usize>outC << 2);
  const weightChannelBytes = <usize>outC << 2;
  const outPixelBytes = <usize>outC << 2;

  for (let oy = 0; oy < outH; oy++) {
    const iyOrigin = oy * stride - padTop;
    const kyStart = max<i32>(0, -iyOrigin);
    const kyEnd = min<i32>(kernel, inH - iyOrigin);
    for (let ox = 0; ox < outW; ox++) {
      const ixOrigin = ox * stride - padLeft;
      const kxStart = max<i32>(0, -ixOrigin);
      const kxEnd = min<i32>(kernel, inW - ixOrigin);
      const target = output + (<usize>(oy * outW + ox)) * outPixelBytes;
      // Input pixel of tap (kyStart, kxStart) and weight row of that tap.
      const firstInput = input + <usize>(iyOrigin + kyStart) * inRowBytes + <usize>(ixOrigin + kxStart) * inPixelBytes;
      const firstWeight = weight + <usize>(kyStart * kernel + kxStart) * weightTapBytes;

      if (ASC_FEATURE_SIMD) {
        let co = 0;
        for (; co + 16 <= outC; co += 16) {
          const columnOffset = <usize>co << 2;
          let acc0 = f32x4.splat(0);
          let acc1 = f32x4.splat(0);
          let acc2 = f32x4.splat(0);
          let acc3 = f32x4.splat(0);
          if (bias != 0) {
            acc0 = v128.load(bias + columnOffset);
            acc1 = v128.load(bias + columnOffset, 16);
            acc2 = v128.load(bias + columnOffset, 32);
            acc3 = v128.load(bias + columnOffset, 48);
          }
          for (let ky = kyStart; ky < kyEnd; ky++) {
            const rowOffset = <usize>(ky - kyStart);
            let pixel = firstInput + rowOffset * inRowBytes;
            let taps = firstWeight + rowOffset * <usize>kernel * weightTapBytes + columnOffset;
            for (let kx = kxStart; kx < kxEnd; kx++) {
              let w = taps;
              for (let ci = 0; ci < inC; ci++) {
                const x = v128.load32_splat(pixel + (<usize>ci << 2));
                acc0 = madd(x, v128.load(w), acc0);
                acc1 = madd(x, v128.load(w, 16), acc1);
                acc2 = madd(x, v128.load(w, 32), acc2);
                acc3 = madd(x, v128.load(w, 48), acc3);
                w += weightChannelBytes;
              }
              pixel += inPixelBytes;
              taps += weightTapBytes;
            }
          }
          const out = target + columnOffset;
          v128.store(out, acc0);
          v128.store(out, acc1, 16);
          v128.store(out, acc2, 32);
          v128.store(out, acc3, 48);
        }
        for (; co < outC; co += 4) {
          const columnOffset = <usize>co << 2;
          let acc = bias != 0 ? v128.load(bias + columnOffset) : f32x4.splat(0);
          for (let ky = kyStart; ky < kyEnd; ky++) {
            const rowOffset = <usize>(ky - kyStart);
            let pixel = firstInput + rowOffset * inRowBytes;
            let taps = firstWeight + rowOffset * <usize>kernel * weightTapBytes + columnOffset;
            for (let kx = kxStart; kx < kxEnd; kx++) {
              let w = taps;
              for (let ci = 0; ci < inC; ci++) {
                acc = madd(v128.load32_splat(pixel + (<usize>ci << 2)), v128.load(w), acc);
                w += weightChannelBytes;
              }
              pixel += inPixelBytes;
              taps += weightTapBytes;
            }
          }
          if (co + 4 <= outC) v128.store(target + columnOffset, acc);
          else storeLanes(target + columnOffset, acc, outC - co);
        }
      } else {
        // Accumulate into the output pixel itself, taps outer and channels inner,
        // so both the weight rows and the output row are read contiguously.
        for (let co = 0; co < outC; co++) {
          store<f32>(target + (<usize>co << 2), bias != 0 ? load<f32>(bias + (<usize>co << 2)) : 0);
        }
        for (let ky = kyStart; ky < kyEnd; ky++) {
          const rowOffset = <usize>(ky - kyStart);
          let pixel = firstInput + rowOffset * inRowBytes;
          let taps = firstWeight + rowOffset * <usize>kernel * weightTapBytes;
          for (let kx = kxStart; kx < kxEnd; kx++) {
            let w = taps;
            for (let ci = 0; ci < inC; ci++) {
              const x = load<f32>(pixel + (<usize>ci << 2));
              for (let co = 0; co < outC; co++) {
                const out = target + (<usize>co << 2);
                store<f32>(out, load<f32>(out) + x * load<f32>(w + (<usize>co << 2)));
              }
              w += weightChannelBytes;
            }
            pixel += inPixelBytes;
            taps += weightTapBytes;
          }
        }
      }
    }
    // One pass over the finished output row applies the activation with
    // independent vectors in flight, which runs faster than one call per vector.
    activation_f32(output + <usize>oy * <usize>outW * outPixelBytes, outW * outC, activation);
  }
}
