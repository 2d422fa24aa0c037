// Multiply-add for the kernels' inner loops. The relaxed-SIMD build fuses it
// into one f32x4.relaxed_madd. The SIMD build keeps a multiply and an add, and
// its output is bit-identical to the build before this helper existed.

/** Returns a * b + c in each lane: fused in the relaxed-SIMD build, a multiply then an add otherwise. */
// @ts-ignore: decorator
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(c, f32x4.mul(a, b));
}
