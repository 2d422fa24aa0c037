// Packing of a row-major [K, N] weight matrix B into column panels for gemm_f32.
//
// Panel p contains columns 8p .. 8p+7 of every row of B, row after row, so the
// micro-kernel reads one panel front to back with two 16-byte loads per k.
// Columns past N are zero, so the last panel is always 8 wide.
//
//   B [K, N], N = 11                 packed (panels of 8 columns)
//   k=0: b00 b01 ... b07 b08 b09 b0A     panel 0: b00..b07 | b10..b17 | ... | bK0..bK7    (K * 8 floats)
//   k=1: b10 b11 ... b17 b18 b19 b1A     panel 1: b08 b09 b0A 0 0 0 0 0 | b18 b19 b1A 0 0 0 0 0 | ...
//   ...
//
// Float offset of B[k, n] in the packed form: (n >> 3) * K * 8 + k * 8 + (n & 7).

/** Columns per packed panel, and the micro-kernel's tile width. */
export const PANEL_COLUMNS: i32 = 8;

/** Returns the float count of the packed form of a [K, N] matrix. */
export function gemm_packed_size(k: i32, n: i32): i32 {
  return ((n + PANEL_COLUMNS - 1) / PANEL_COLUMNS) * PANEL_COLUMNS * k;
}

/** Packs the row-major [K, N] matrix at source into panels at packed (gemm_packed_size(k, n) floats). */
export function gemm_pack_f32(source: usize, k: i32, n: i32, packed: usize): void {
  const panels = (n + PANEL_COLUMNS - 1) / PANEL_COLUMNS;
  const sourceRowBytes = <usize>n << 2;
  let target = packed;
  for (let p = 0; p < panels; p++) {
    const column = p * PANEL_COLUMNS;
    const width = min<i32>(PANEL_COLUMNS, n - column);
    let from = source + (<usize>column << 2);
    if (ASC_FEATURE_SIMD && width == PANEL_COLUMNS) {
      // A full panel row is two 16-byte copies.
      for (let row = 0; row < k; row++) {
        v128.store(target, v128.load(from));
        v128.store(target, v128.load(from, 16), 16);
        from += sourceRowBytes;
        target += <usize>PANEL_COLUMNS << 2;
      }
      continue;
    }
    for (let row = 0; row < k; row++) {
      for (let j = 0; j < PANEL_COLUMNS; j++) {
        store<f32>(target + (<usize>j << 2), j < width ? load<f32>(from + (<usize>j << 2)) : 0);
      }
      from += sourceRowBytes;
      target += <usize>PANEL_COLUMNS << 2;
    }
  }
}
