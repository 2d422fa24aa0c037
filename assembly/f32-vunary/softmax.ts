// Softmax over the classifier logits.

/**
 * Replaces count floats in place by exp(x - max) / sum(exp(x - max)).
 *
 * Computed in f64 with the standard library's Math.exp: in f32, rounding x - max
 * alone costs |x - max| * 2^-24 of relative error (8 ULP at x - max = -20). The
 * sum pass and the output pass each evaluate exp, so every probability is
 * rounded to f32 once. Subtracting the max keeps every exponent <= 0, so large
 * logits never overflow. Softmax runs once per image on about 1000 values, so
 * the scalar f64 path costs nothing that matters.
 */
export function softmax_f32(data: usize, count: i32): void {
  if (count <= 0) return;
  let largest = load<f32>(data);
  for (let i = 1; i < count; i++) largest = max<f32>(largest, load<f32>(data + (<usize>i << 2)));
  const shift = <f64>largest;

  let sum: f64 = 0;
  for (let i = 0; i < count; i++) sum += Math.exp(<f64>load<f32>(data + (<usize>i << 2)) - shift);

  const inverse = 1.0 / sum;
  for (let i = 0; i < count; i++) {
    const pointer = data + (<usize>i << 2);
    store<f32>(pointer, <f32>(Math.exp(<f64>load<f32>(pointer) - shift) * inverse));
  }
}
