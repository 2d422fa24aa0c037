// Per-channel scaling of an NHWC map, as in the squeeze-excite gate.
import { storeLanes } from '../shared/lanes';

/**
 * output[p, c] = input[p, c] * scale[c] for a [pixels, channels] map.
 * output may alias input.
 */
export function scale_channels_f32(input: usize, pixels: i32, channels: i32, scale: usize, output: usize): void {
  const rowBytes = <usize>channels << 2;
  for (let p = 0; p < pixels; p++) {
    const source = input + <usize>p * rowBytes;
    const target = output + <usize>p * rowBytes;
    let c = 0;
    if (ASC_FEATURE_SIMD) {
      for (; c + 8 <= channels; c += 8) {
        const offset = <usize>c << 2;
        const s0 = f32x4.mul(v128.load(source + offset), v128.load(scale + offset));
        const s1 = f32x4.mul(v128.load(source + offset, 16), v128.load(scale + offset, 16));
        v128.store(target + offset, s0);
        v128.store(target + offset, s1, 16);
      }
      for (; c < channels; c += 4) {
        const offset = <usize>c << 2;
        const product = f32x4.mul(v128.load(source + offset), v128.load(scale + offset));
        if (c + 4 <= channels) v128.store(target + offset, product);
        else storeLanes(target + offset, product, channels - c);
      }
    } else {
      for (; c < channels; c++) {
        const offset = <usize>c << 2;
        store<f32>(target + offset, load<f32>(source + offset) * load<f32>(scale + offset));
      }
    }
  }
}
