/** Returns the first byte of linear memory after the module's static data. */
export function heapBase(): usize {
  return __heap_base;
}

/** Returns true when this build was compiled with 128-bit SIMD. */
export function simdBuild(): bool {
  return ASC_FEATURE_SIMD;
}
