// Channel replication for depthwise convolutions with a depth multiplier above 1:
// the multiplied convolution is a plain depthwise one over the repeated channels.

/**
 * output[p, c * repeats + r] = input[p, c] for a [pixels, channels] map and
 * r in 0..repeats-1. output must not overlap input.
 */
export function repeat_channels_f32(input: usize, pixels: i32, channels: i32, repeats: i32, output: usize): void {
  let target = output;
  const end = input + (<usize>pixels * <usize>channels << 2);
  for (let source = input; source < end; source += 4) {
    const value = load<f32>(source);
    for (let r = 0; r < repeats; r++) {
      store<f32>(target, value);
      target += 4;
    }
  }
}
