// Partial-vector stores for channel and column tails. Kernels may read past
// the end of a buffer (see OVERREAD_BYTES in src/wasm/kernels.ts) but must
// never write there, so a tail of fewer than 4 floats is stored lane by lane.

/** Stores the first count (0..3) lanes of v at pointer. */
// @ts-ignore: decorator
@inline export function storeLanes(pointer: usize, v: v128, count: i32): void {
  if (count >= 2) {
    v128.store64_lane(pointer, v, 0);
    if (count == 3) store<f32>(pointer, f32x4.extract_lane(v, 2), 8);
  } else if (count == 1) {
    store<f32>(pointer, f32x4.extract_lane(v, 0));
  }
}

/** Stores the first count (0..8) floats of the 8-float row lo:hi at pointer. */
// @ts-ignore: decorator
@inline export function storeRow8(pointer: usize, lo: v128, hi: v128, count: i32): void {
  if (count >= 8) {
    v128.store(pointer, lo);
    v128.store(pointer, hi, 16);
  } else if (count >= 4) {
    v128.store(pointer, lo);
    storeLanes(pointer + 16, hi, count - 4);
  } else {
    storeLanes(pointer, lo, count);
  }
}
