/**
 * Divides the work of a layer's kernel calls into parts for threads. A part of
 * a call is the same kernel on a slice of the output, with pointers and sizes
 * moved to the slice. Every output value is then computed by the same code, in
 * the same order, as without threads, so results are bit-identical.
 *
 * Slices: output rows (GEMM rows in tiles of 4, convolution output rows) when
 * there are enough of them, else the GEMM's packed column panels, which serve
 * layers with few rows (the classifier, 7x7 feature maps on many threads).
 * Global average pools split by channel blocks.
 */

import { GEMM_PANEL_COLUMNS, KERNEL_CALL_NAMES, type KernelName } from '../wasm/kernels.js';
import type { KernelCall } from '../wasm/threads.js';

const INDEX = new Map<KernelName, number>(KERNEL_CALL_NAMES.map((name, index) => [name, index]));

/** Builds a kernel call. */
export function kernelCall(kernel: KernelName, ...args: number[]): KernelCall {
  return { kernel: INDEX.get(kernel)!, args };
}

/** Returns the name of a call's kernel. */
export function kernelName(call: KernelCall): KernelName {
  return KERNEL_CALL_NAMES[call.kernel];
}

/**
 * Multiply-adds (or element operations) below which a call is not split: the
 * hand-off to a worker costs a few microseconds, about what 50 000
 * multiply-adds take on one core.
 */
export const MIN_SPLIT_WORK = 50_000;

/** Rows of the GEMM's register tile. */
const GEMM_TILE_ROWS = 4;

/** Splits count units into at most parts contiguous ranges of near-equal size, in multiples of unit. */
export function ranges(count: number, parts: number, unit = 1): [number, number][] {
  const blocks = Math.ceil(count / unit);
  const used = Math.min(parts, blocks);
  const result: [number, number][] = [];
  for (let p = 0; p < used; p++) {
    const start = Math.floor((blocks * p) / used) * unit;
    const end = Math.min(count, Math.floor((blocks * (p + 1)) / used) * unit);
    if (end > start) result.push([start, end]);
  }
  return result;
}

/** Work of a call in multiply-adds or element operations, the measure MIN_SPLIT_WORK applies to. */
export function callWork(call: KernelCall): number {
  const a = call.args;
  switch (kernelName(call)) {
    case 'gemm_f32':
      return a[1] * a[2] * a[4];
    case 'gemm_panels_f32':
      return a[1] * a[2] * Math.min(a[4], (a[11] - a[10]) * GEMM_PANEL_COLUMNS);
    case 'dwconv2d_f32':
      return a[7] * a[8] * a[3] * a[9] * a[9];
    case 'conv2d_f32':
      return a[7] * a[8] * a[9] * a[3] * a[10] * a[10];
    case 'add_f32':
      return a[3];
    case 'quantize_grid_f32':
      return a[1];
    case 'requantize_f32':
      return a[1] * a[2];
    case 'add_requantize_f32':
      return a[5];
    case 'global_avg_pool_f32':
    case 'global_max_pool_f32':
      return a[1] * a[2];
    case 'global_avg_pool_channels_f32':
      return a[1] * (a[5] - a[4]);
    default:
      return 0;
  }
}

/** Splits one call into at most parts calls on disjoint output slices, or returns null when it is not worth splitting. */
export function splitCall(call: KernelCall, parts: number): KernelCall[] | null {
  if (parts < 2 || callWork(call) < MIN_SPLIT_WORK) return null;
  const a = call.args;
  switch (kernelName(call)) {
    case 'gemm_f32':
      return splitGemm(a, parts);
    case 'dwconv2d_f32':
      return splitConvRows(call, parts, a[3], 7, 10, 11);
    case 'conv2d_f32':
      return splitConvRows(call, parts, a[9], 7, 11, 12);
    case 'add_f32':
      return ranges(a[3], parts, 4).map(([s, e]) => kernelCall('add_f32', a[0] + 4 * s, a[1] + 4 * s, a[2] + 4 * s, e - s));
    case 'quantize_grid_f32':
      return ranges(a[1], parts, 4).map(([s, e]) => kernelCall('quantize_grid_f32', a[0] + 4 * s, e - s, a[2], a[3], a[4], a[5]));
    case 'requantize_f32':
      return ranges(a[1], parts).map(([s, e]) =>
        kernelCall('requantize_f32', a[0] + 4 * s * a[2], e - s, a[2], a[3], a[4], a[5], a[6]));
    case 'add_requantize_f32':
      return ranges(a[5], parts, 4).map(([s, e]) =>
        kernelCall('add_requantize_f32', a[0] + 4 * s, a[1], a[2] + 4 * s, a[3], a[4] + 4 * s, e - s, a[6], a[7]));
    case 'global_avg_pool_f32':
      // Blocks of 8 channels, the pool kernel's widest step.
      return ranges(a[2], parts, 8).map(([s, e]) => kernelCall('global_avg_pool_channels_f32', a[0], a[1], a[2], a[3], s, e));
    default:
      return null;
  }
}

/**
 * gemm_f32(a, m, k, packed, n, bias, output, activation, residual, inputScale):
 * by rows when each part gets at least two row tiles or there are more row
 * tiles than column panels, else by column panels.
 */
function splitGemm(a: number[], parts: number): KernelCall[] | null {
  const [pointer, m, k, packed, n, bias, output, activation, residual, inputScale] = a;
  const tiles = Math.ceil(m / GEMM_TILE_ROWS);
  const panels = Math.ceil(n / GEMM_PANEL_COLUMNS);
  // Rows when every part gets two tiles, or when rows still outnumber the panels; else panels.
  if (tiles >= 2 * parts || (tiles >= 2 && tiles >= panels)) {
    return ranges(m, parts, GEMM_TILE_ROWS).map(([s, e]) =>
      kernelCall(
        'gemm_f32', pointer + 4 * s * k, e - s, k, packed, n, bias, output + 4 * s * n, activation,
        residual !== 0 ? residual + 4 * s * n : 0, inputScale,
      ));
  }
  if (panels >= 2) {
    return ranges(panels, parts).map(([s, e]) =>
      kernelCall('gemm_panels_f32', pointer, m, k, packed, n, bias, output, activation, residual, inputScale, s, e));
  }
  return null;
}

/**
 * Splits a convolution call by output rows. The call for rows [s, e) moves the
 * input pointer to the first input row the slice reads, and shrinks the top
 * padding to what remains above it. heightIndex, strideIndex and padIndex are the
 * positions of outH, stride and padTop in the call's arguments.
 */
function splitConvRows(
  call: KernelCall, parts: number, outChannels: number,
  heightIndex: number, strideIndex: number, padIndex: number,
): KernelCall[] | null {
  const a = call.args;
  const outH = a[heightIndex];
  const outW = a[heightIndex + 1];
  if (outH < 2) return null;
  const input = a[0];
  const inH = a[1];
  const inW = a[2];
  const inC = a[3];
  const output = a[6];
  const stride = a[strideIndex];
  const padTop = a[padIndex];
  // A last row whose window starts below the input (odd explicit padding) stays unsplit.
  if ((outH - 1) * stride - padTop >= inH) return null;
  return ranges(outH, parts).map(([s, e]) => {
    const firstRow = s * stride - padTop;
    const skipped = Math.max(firstRow, 0);
    const args = a.slice();
    args[0] = input + 4 * skipped * inW * inC;
    args[1] = inH - skipped;
    args[6] = output + 4 * s * outW * outChannels;
    args[heightIndex] = e - s;
    args[padIndex] = Math.max(-firstRow, 0);
    return { kernel: call.kernel, args };
  });
}

/** Chunks per thread that a layer is cut into, so that a late or descheduled thread holds up little of it. */
const CHUNKS_PER_THREAD = 4;
/** Minimum work of a chunk, in the units of callWork: smaller chunks cost more in hand-off than they save. */
const MIN_CHUNK_WORK = 25_000;

/**
 * Divides a layer's calls into chunks for threads to claim. When every call
 * splits, chunk c contains slice c of every call; otherwise calls that are
 * independent (one per image) go into the chunks whole. Returns null when the
 * layer is better run on one thread.
 */
export function partition(calls: KernelCall[], threads: number): KernelCall[][] | null {
  if (threads < 2 || calls.length === 0) return null;
  const work = calls.reduce((sum, call) => sum + callWork(call), 0);
  const target = Math.min(threads * CHUNKS_PER_THREAD, Math.max(threads, Math.floor(work / MIN_CHUNK_WORK)));
  const split = calls.map((call) => splitCall(call, target));
  if (split.every((parts) => parts !== null && parts.length > 1)) {
    const chunks: KernelCall[][] = Array.from({ length: Math.max(...split.map((list) => list!.length)) }, () => []);
    split.forEach((list) => list!.forEach((call, index) => chunks[index].push(call)));
    return chunks;
  }
  if (calls.length >= 2 && work >= MIN_SPLIT_WORK) {
    return ranges(calls.length, target).map(([start, end]) => calls.slice(start, end));
  }
  return null;
}
