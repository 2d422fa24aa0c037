// GEMM for 1x1 convolutions and dense layers:
//   output[M, N] = act((a[M, K] * inputScale[K]) x B[K, N] + bias[N]) + residual[M, N]
// with B packed by gemm_pack_f32 (see pack.ts for the layout).
//
// SIMD micro-kernel: 4 rows x 8 columns in 8 f32x4 accumulators. Each k step
// loads one 8-float panel row as two vectors, broadcasts 4 values of a, and does
// 8 multiplies and 8 adds. 8 accumulators, 2 B vectors and the broadcasts fit in
// the 16 xmm registers of x64, so nothing spills. Rows past the last multiple of
// 4 use a 1 x 8 kernel. Columns past N are computed on the zero padding of the
// last panel and never stored.
//
// The optional inputScale (the squeeze-excite gate) multiplies column k of a.
// The kernels apply it to the B row instead, (a * s) x B = a x (diag(s) B),
// which costs 2 multiplies per k instead of 4.
//
// Loop order: blocks of panels that together take about PANEL_BLOCK_BYTES, then
// rows, then the panels of the block. A 4-row strip of a stays in L1 while it
// meets every panel of the block, and the block stays in L2 while all rows pass.
// When all of B fits in one block, as in most B0 1x1 layers, the output is
// written row after row.
import { activateScalar, activateVector, ACTIVATION_LINEAR } from '../shared/activation';
import { storeRow8 } from '../shared/lanes';
import { PANEL_COLUMNS } from './pack';
import { activation_f32 } from '../f32-vunary/activation';
import { add_f32 } from '../f32-vbinary/add';
import { madd } from '../shared/madd';

// NOTE: 128 KiB of packed B per block is an estimate meant to fit in the L2 of
// common x64 and arm64 cores (256 KiB and up) next to a few rows of a. It was
// not tuned per CPU.
const PANEL_BLOCK_BYTES: i32 = 128 * 1024;

/**
 * Computes a 4 x 8 tile; cols (1..8) of its columns are stored. Inlined into
 * gemm_f32: a call per tile, with its 11 arguments, cost about 7 % on layers
 * with K of 16 to 40 (measured on B0's shapes).
 */
// @ts-ignore: decorator
@inline function gemmTile4x8(
  a: usize, aRowBytes: usize, k: i32, panel: usize, bias: usize, inputScale: usize,
  output: usize, outRowBytes: usize, cols: i32, activation: i32, residual: usize,
): void {
  let c0lo = f32x4.splat(0);
  let c0hi = f32x4.splat(0);
  if (bias != 0) {
    c0lo = v128.load(bias);
    c0hi = v128.load(bias, 16);
  }
  let c1lo = c0lo;
  let c1hi = c0hi;
  let c2lo = c0lo;
  let c2hi = c0hi;
  let c3lo = c0lo;
  let c3hi = c0hi;

  let a0 = a;
  const a1Offset = aRowBytes;
  const a2Offset = aRowBytes * 2;
  const a3Offset = aRowBytes * 3;
  let b = panel;
  const end = panel + (<usize>k << 5);
  if (inputScale == 0) {
    while (b < end) {
      const blo = v128.load(b);
      const bhi = v128.load(b, 16);

      const x0 = v128.load32_splat(a0);
      c0lo = madd(x0, blo, c0lo);
      c0hi = madd(x0, bhi, c0hi);
      const x1 = v128.load32_splat(a0 + a1Offset);
      c1lo = madd(x1, blo, c1lo);
      c1hi = madd(x1, bhi, c1hi);
      const x2 = v128.load32_splat(a0 + a2Offset);
      c2lo = madd(x2, blo, c2lo);
      c2hi = madd(x2, bhi, c2hi);
      const x3 = v128.load32_splat(a0 + a3Offset);
      c3lo = madd(x3, blo, c3lo);
      c3hi = madd(x3, bhi, c3hi);

      a0 += 4;
      b += 32;
    }
  } else {
    let s = inputScale;
    while (b < end) {
      const gate = v128.load32_splat(s);
      const blo = f32x4.mul(v128.load(b), gate);
      const bhi = f32x4.mul(v128.load(b, 16), gate);

      const x0 = v128.load32_splat(a0);
      c0lo = madd(x0, blo, c0lo);
      c0hi = madd(x0, bhi, c0hi);
      const x1 = v128.load32_splat(a0 + a1Offset);
      c1lo = madd(x1, blo, c1lo);
      c1hi = madd(x1, bhi, c1hi);
      const x2 = v128.load32_splat(a0 + a2Offset);
      c2lo = madd(x2, blo, c2lo);
      c2hi = madd(x2, bhi, c2hi);
      const x3 = v128.load32_splat(a0 + a3Offset);
      c3lo = madd(x3, blo, c3lo);
      c3hi = madd(x3, bhi, c3hi);

      a0 += 4;
      s += 4;
      b += 32;
    }
  }

  if (activation != ACTIVATION_LINEAR) {
    c0lo = activateVector(c0lo, activation);
    c0hi = activateVector(c0hi, activation);
    c1lo = activateVector(c1lo, activation);
    c1hi = activateVector(c1hi, activation);
    c2lo = activateVector(c2lo, activation);
    c2hi = activateVector(c2hi, activation);
    c3lo = activateVector(c3lo, activation);
    c3hi = activateVector(c3hi, activation);
  }
  if (residual != 0) {
    // Reads 8 floats per row even when cols < 8: the extra ones are the next row
    // or at most 28 bytes past the residual buffer, which over-read allows.
    c0lo = f32x4.add(c0lo, v128.load(residual));
    c0hi = f32x4.add(c0hi, v128.load(residual, 16));
    c1lo = f32x4.add(c1lo, v128.load(residual + outRowBytes));
    c1hi = f32x4.add(c1hi, v128.load(residual + outRowBytes, 16));
    c2lo = f32x4.add(c2lo, v128.load(residual + outRowBytes * 2));
    c2hi = f32x4.add(c2hi, v128.load(residual + outRowBytes * 2, 16));
    c3lo = f32x4.add(c3lo, v128.load(residual + outRowBytes * 3));
    c3hi = f32x4.add(c3hi, v128.load(residual + outRowBytes * 3, 16));
  }

  storeRow8(output, c0lo, c0hi, cols);
  storeRow8(output + outRowBytes, c1lo, c1hi, cols);
  storeRow8(output + outRowBytes * 2, c2lo, c2hi, cols);
  storeRow8(output + outRowBytes * 3, c3lo, c3hi, cols);
}

/** Computes a 1 x 8 tile; cols (1..8) of its columns are stored. */
function gemmTile1x8(
  a: usize, k: i32, panel: usize, bias: usize, inputScale: usize,
  output: usize, cols: i32, activation: i32, residual: usize,
): void {
  let lo = f32x4.splat(0);
  let hi = f32x4.splat(0);
  if (bias != 0) {
    lo = v128.load(bias);
    hi = v128.load(bias, 16);
  }
  let b = panel;
  let x = a;
  let s = inputScale;
  const end = panel + (<usize>k << 5);
  while (b < end) {
    let value = load<f32>(x);
    if (s != 0) {
      value *= load<f32>(s);
      s += 4;
    }
    const broadcast = f32x4.splat(value);
    lo = madd(broadcast, v128.load(b), lo);
    hi = madd(broadcast, v128.load(b, 16), hi);
    x += 4;
    b += 32;
  }
  if (activation != ACTIVATION_LINEAR) {
    lo = activateVector(lo, activation);
    hi = activateVector(hi, activation);
  }
  if (residual != 0) {
    lo = f32x4.add(lo, v128.load(residual));
    hi = f32x4.add(hi, v128.load(residual, 16));
  }
  storeRow8(output, lo, hi, cols);
}

/** Scalar build: computes one row of one panel in 8 scalar accumulators. */
function gemmRowScalar(
  a: usize, k: i32, panel: usize, bias: usize, inputScale: usize,
  output: usize, cols: i32, activation: i32, residual: usize,
): void {
  let c0: f32 = 0, c1: f32 = 0, c2: f32 = 0, c3: f32 = 0;
  let c4: f32 = 0, c5: f32 = 0, c6: f32 = 0, c7: f32 = 0;
  let b = panel;
  let x = a;
  let s = inputScale;
  const end = panel + (<usize>k << 5);
  while (b < end) {
    let value = load<f32>(x);
    if (s != 0) {
      value *= load<f32>(s);
      s += 4;
    }
    c0 += value * load<f32>(b);
    c1 += value * load<f32>(b, 4);
    c2 += value * load<f32>(b, 8);
    c3 += value * load<f32>(b, 12);
    c4 += value * load<f32>(b, 16);
    c5 += value * load<f32>(b, 20);
    c6 += value * load<f32>(b, 24);
    c7 += value * load<f32>(b, 28);
    x += 4;
    b += 32;
  }
  for (let j = 0; j < cols; j++) {
    let sum: f32;
    switch (j) {
      case 0: { sum = c0; break; }
      case 1: { sum = c1; break; }
      case 2: { sum = c2; break; }
      case 3: { sum = c3; break; }
      case 4: { sum = c4; break; }
      case 5: { sum = c5; break; }
      case 6: { sum = c6; break; }
      default: { sum = c7; break; }
    }
    const offset = <usize>j << 2;
    if (bias != 0) sum += load<f32>(bias + offset);
    let value = activateScalar(sum, activation);
    if (residual != 0) value += load<f32>(residual + offset);
    store<f32>(output + offset, value);
  }
}

/** Applies the activation to count floats at strip, then adds residual + offset when residual is not 0. */
function applyEpilogue(strip: usize, residual: usize, offset: usize, count: i32, activation: i32): void {
  activation_f32(strip, count, activation);
  if (residual != 0) add_f32(strip, residual + offset, strip, count);
}

/**
 * Computes output[M, N] = act((a[M, K] * inputScale[K]) x B[K, N] + bias[N]) + residual[M, N].
 * bias, residual and inputScale may be 0 for absent. output must not overlap a.
 * output may be the same buffer as residual (the in-place residual add), but
 * must not overlap it partially.
 */
export function gemm_f32(
  a: usize, m: i32, k: i32, packed: usize, n: i32,
  bias: usize, output: usize, activation: i32, residual: usize, inputScale: usize,
): void {
  gemmPanels(a, m, k, packed, n, bias, output, activation, residual, inputScale, 0, (n + PANEL_COLUMNS - 1) / PANEL_COLUMNS);
}

/**
 * gemm_f32 restricted to the output columns of packed panels [panelStart,
 * panelEnd), each PANEL_COLUMNS wide (the last one may be narrower). The other
 * columns of output are left as they are. Threads split a layer with few rows,
 * such as a classifier, this way.
 */
export function gemm_panels_f32(
  a: usize, m: i32, k: i32, packed: usize, n: i32,
  bias: usize, output: usize, activation: i32, residual: usize, inputScale: usize,
  panelStart: i32, panelEnd: i32,
): void {
  const panels = (n + PANEL_COLUMNS - 1) / PANEL_COLUMNS;
  gemmPanels(a, m, k, packed, n, bias, output, activation, residual, inputScale, max<i32>(panelStart, 0), min<i32>(panelEnd, panels));
}

function gemmPanels(
  a: usize, m: i32, k: i32, packed: usize, n: i32,
  bias: usize, output: usize, activation: i32, residual: usize, inputScale: usize,
  panelStart: i32, panelEnd: i32,
): void {
  const aRowBytes = <usize>k << 2;
  const outRowBytes = <usize>n << 2;
  const panelBytes = <usize>k * (<usize>PANEL_COLUMNS << 2);
  const panels = panelEnd;
  const blockPanels = max<i32>(1, PANEL_BLOCK_BYTES / max<i32>(<i32>panelBytes, 1));
  // When one block holds every panel, a row strip of the output is finished and
  // contiguous before the next strip starts. The activation and residual then run
  // as one pass over the strip, with independent vectors in flight, in place of a
  // call per accumulator in every tile.
  // A residual in the output buffer itself would be overwritten before the pass
  // reads it, so that case keeps the per-tile epilogue, which reads before storing.
  // The pass covers whole rows, so a call for part of the columns keeps the per-tile epilogue too.
  const wholeRows = panelStart == 0 && <i64>panelEnd * PANEL_COLUMNS >= <i64>n;
  const deferEpilogue = activation != ACTIVATION_LINEAR && blockPanels >= panels && residual != output && wholeRows;
  const tileActivation = deferEpilogue ? ACTIVATION_LINEAR : activation;
  const tileResidual: usize = deferEpilogue ? 0 : residual;

  for (let blockStart = panelStart; blockStart < panels; blockStart += blockPanels) {
    const blockEnd = min<i32>(blockStart + blockPanels, panels);
    let row = 0;
    if (ASC_FEATURE_SIMD) {
      for (; row + 4 <= m; row += 4) {
        const aRow = a + <usize>row * aRowBytes;
        const outRow = output + <usize>row * outRowBytes;
        const residualRow: usize = tileResidual != 0 ? tileResidual + <usize>row * outRowBytes : 0;
        for (let p = blockStart; p < blockEnd; p++) {
          const columnOffset = <usize>(p * PANEL_COLUMNS) << 2;
          gemmTile4x8(
            aRow, aRowBytes, k, packed + <usize>p * panelBytes, bias != 0 ? bias + columnOffset : 0, inputScale,
            outRow + columnOffset, outRowBytes, min<i32>(PANEL_COLUMNS, n - p * PANEL_COLUMNS), tileActivation,
            residualRow != 0 ? residualRow + columnOffset : 0,
          );
        }
        if (deferEpilogue) applyEpilogue(outRow, residual, <usize>row * outRowBytes, 4 * n, activation);
      }
    }
    // Rows past the last multiple of 4, or every row in the scalar build.
    for (; row < m; row++) {
      const aRow = a + <usize>row * aRowBytes;
      const outRow = output + <usize>row * outRowBytes;
      const residualRow: usize = tileResidual != 0 ? tileResidual + <usize>row * outRowBytes : 0;
      for (let p = blockStart; p < blockEnd; p++) {
        const columnOffset = <usize>(p * PANEL_COLUMNS) << 2;
        const panel = packed + <usize>p * panelBytes;
        const panelBias = bias != 0 ? bias + columnOffset : 0;
        const cols = min<i32>(PANEL_COLUMNS, n - p * PANEL_COLUMNS);
        const panelResidual = residualRow != 0 ? residualRow + columnOffset : 0;
        if (ASC_FEATURE_SIMD) {
          gemmTile1x8(aRow, k, panel, panelBias, inputScale, outRow + columnOffset, cols, tileActivation, panelResidual);
        } else {
          gemmRowScalar(aRow, k, panel, panelBias, inputScale, outRow + columnOffset, cols, tileActivation, panelResidual);
        }
      }
      if (deferEpilogue) applyEpilogue(outRow, residual, <usize>row * outRowBytes, n, activation);
    }
  }
}
