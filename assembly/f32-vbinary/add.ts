// Elementwise binary kernels over flat f32 buffers.
import { storeLanes } from '../shared/lanes';

/** output[i] = a[i] + b[i] for count floats. output may alias a or b. */
export function add_f32(a: usize, b: usize, output: usize, count: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 16 <= count; i += 16) {
      const offset = <usize>i << 2;
      const s0 = f32x4.add(v128.load(a + offset), v128.load(b + offset));
      const s1 = f32x4.add(v128.load(a + offset, 16), v128.load(b + offset, 16));
      const s2 = f32x4.add(v128.load(a + offset, 32), v128.load(b + offset, 32));
      const s3 = f32x4.add(v128.load(a + offset, 48), v128.load(b + offset, 48));
      v128.store(output + offset, s0);
      v128.store(output + offset, s1, 16);
      v128.store(output + offset, s2, 32);
      v128.store(output + offset, s3, 48);
    }
    for (; i + 4 <= count; i += 4) {
      const offset = <usize>i << 2;
      v128.store(output + offset, f32x4.add(v128.load(a + offset), v128.load(b + offset)));
    }
    if (i < count) {
      const offset = <usize>i << 2;
      storeLanes(output + offset, f32x4.add(v128.load(a + offset), v128.load(b + offset)), count - i);
    }
  } else {
    for (; i < count; i++) {
      const offset = <usize>i << 2;
      store<f32>(output + offset, load<f32>(a + offset) + load<f32>(b + offset));
    }
  }
}
