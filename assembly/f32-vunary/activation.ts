// Activation applied in place over a flat f32 buffer.
import { activateScalar, activateVector, swishVector, ACTIVATION_LINEAR, ACTIVATION_SWISH } from '../shared/activation';
import { storeLanes } from '../shared/lanes';

/** Applies the activation with the given code to count floats at data, in place. */
export function activation_f32(data: usize, count: i32, activation: i32): void {
  if (activation == ACTIVATION_LINEAR) return;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    if (activation == ACTIVATION_SWISH) {
      // The most common activation in EfficientNet gets an inlined loop with no call per vector.
      for (; i + 8 <= count; i += 8) {
        const pointer = data + (<usize>i << 2);
        const v0 = swishVector(v128.load(pointer));
        const v1 = swishVector(v128.load(pointer, 16));
        v128.store(pointer, v0);
        v128.store(pointer, v1, 16);
      }
    }
    for (; i + 8 <= count; i += 8) {
      const pointer = data + (<usize>i << 2);
      const v0 = activateVector(v128.load(pointer), activation);
      const v1 = activateVector(v128.load(pointer, 16), activation);
      v128.store(pointer, v0);
      v128.store(pointer, v1, 16);
    }
    for (; i < count; i += 4) {
      const pointer = data + (<usize>i << 2);
      const v = activateVector(v128.load(pointer), activation);
      if (i + 4 <= count) v128.store(pointer, v);
      else storeLanes(pointer, v, count - i);
    }
  } else {
    for (; i < count; i++) {
      const pointer = data + (<usize>i << 2);
      store<f32>(pointer, activateScalar(load<f32>(pointer), activation));
    }
  }
}
