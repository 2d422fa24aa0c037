// Splitting a kernel call into parts for threads (src/graph/split.ts). Each
// part runs here on the calling thread, straight on the kernel exports, so a
// failure points at the split arithmetic and not at the thread pool. The parts
// must write disjoint slices that cover the output, leave the guard bytes and
// inputs alone, and give the same bits as the unsplit call.
import { assert, describe, expect, test } from 'vitest';
import { ACTIVATION_CODES, type Activation } from '../../src/graph/spec.js';
import { MIN_SPLIT_WORK, callWork, kernelCall, kernelName, partition, splitCall } from '../../src/graph/split.js';
import { compileKernels, KernelInstance } from '../../src/wasm/instantiate.js';
import { GEMM_PANEL_COLUMNS } from '../../src/wasm/kernels.js';
import type { KernelCall } from '../../src/wasm/threads.js';
import { ACTIVATIONS } from '../reference/activation.js';
import { gemmReference } from '../reference/gemm.js';
import { Arena, BUILDS, type TestBuild } from '../support/buffers.js';
import { describeCase, expectClose, expectNoDamage, type CaseLabel } from '../support/check.js';
import { baseSeed, Random } from '../support/prng.js';
import { TOLERANCES } from '../support/tolerances.js';
import { bitDifference } from './support.js';

/** Part counts tried for every call: the thread counts a 2- to 5-core machine gets. */
const PART_COUNTS = [2, 3, 4, 5] as const;
/** Rows of the GEMM's register tile, which a row split keeps whole. */
const GEMM_TILE_ROWS = 4;

// Arena.create makes a fresh instance per case. A thread build's shared memory reserves up
// to 4 GiB of address space per instance, and this file has over a thousand cases, so
// each build gets one instance here and every case allocates above a mark it then releases.
const ArenaOn = Arena as unknown as new (kernels: KernelInstance) => Arena;
const instances = new Map<TestBuild, Promise<KernelInstance>>();

function kernelsFor(build: TestBuild): Promise<KernelInstance> {
  let instance = instances.get(build);
  if (!instance) {
    instance = build === 'simd-threads' || build === 'relaxed-simd-threads'
      ? compileKernels(build).then((module) => KernelInstance.create('auto', module, 1))
      : KernelInstance.create(build);
    instances.set(build, instance);
  }
  return instance;
}

/** Runs body on a fresh arena of build's instance and frees everything it allocated. */
async function withArena<T>(build: TestBuild, body: (arena: Arena) => T): Promise<T> {
  const kernels = await kernelsFor(build);
  const mark = kernels.mark();
  try {
    return body(new ArenaOn(kernels));
  } finally {
    kernels.release(mark);
  }
}

/** Makes one kernel call through the instance's exports. */
function invoke(arena: Arena, call: KernelCall): void {
  const kernel = arena.exports[kernelName(call)] as (...args: number[]) => void;
  kernel(...call.args);
}

/** Fails at the first element that is unwritten (NaN) or whose bits differ from expected. */
function expectSameBits(label: CaseLabel, context: string, actual: Float32Array, expected: Float32Array): void {
  const difference = bitDifference(actual, expected);
  if (difference !== null) assert.fail(`${describeCase(label)}: ${context}: ${difference}`);
}

/**
 * One kernel call to split. setup allocates the inputs in an arena and returns
 * a function that builds the call for a given output pointer. An in-place
 * kernel (or a GEMM whose residual is its output) gives the output's starting
 * values in initialOutput; other outputs start as NaN.
 */
interface SplitCase {
  name: string;
  params: Record<string, unknown>;
  seed: number;
  /** True when splitCall must return more than one part for work of at least MIN_SPLIT_WORK. */
  mustSplit: (parts: number) => boolean;
  setup(arena: Arena, random: Random): { outputCount: number; initialOutput: Float32Array | null; call: (output: number) => KernelCall };
}

type PaddingMode = 'same' | 'explicit' | 'bottom-window-in-padding';

/** Output size of one spatial axis. */
function resolveAxis(inSize: number, kernel: number, stride: number, before: number, after: number): number {
  return Math.floor((inSize + before + after - kernel) / stride) + 1;
}

/**
 * Picks the padding of one axis: TF-style SAME, random explicit padding on each
 * side (asymmetric), or a bottom padding of a whole kernel, so the last output
 * row's window lies entirely below the image.
 */
function pickPadding(random: Random, mode: PaddingMode, inSize: number, kernel: number, stride: number): { before: number; after: number } {
  if (mode === 'same') {
    const out = Math.ceil(inSize / stride);
    const total = Math.max(0, (out - 1) * stride + kernel - inSize);
    return { before: Math.floor(total / 2), after: total - Math.floor(total / 2) };
  }
  if (mode === 'bottom-window-in-padding') return { before: random.int(0, kernel - 1), after: kernel + stride - 1 };
  return { before: random.int(0, kernel - 1), after: random.int(0, kernel - 1) };
}

interface ConvShape {
  inH: number;
  inW: number;
  outH: number;
  outW: number;
  padTop: number;
  padLeft: number;
}

/**
 * Picks a convolution geometry whose output has about targetWork / workPerPixel
 * pixels: a random width and as many rows as that takes, or exactly outRows
 * rows of a width that gives that much work.
 */
function pickShape(
  random: Random, kernel: number, stride: number, mode: PaddingMode, workPerPixel: number, targetWork: number, outRows?: number,
): ConvShape {
  const inW = outRows === undefined
    ? random.int(kernel, 26)
    : Math.ceil(targetWork / (outRows * workPerPixel)) * stride + random.int(0, stride - 1);
  const columns = pickPadding(random, mode === 'same' ? 'same' : 'explicit', inW, kernel, stride);
  const outW = resolveAxis(inW, kernel, stride, columns.before, columns.after);
  if (outRows !== undefined) {
    if (mode === 'same') {
      const inH = Math.max(1, outRows * stride - random.int(0, stride - 1));
      const rows = pickPadding(random, 'same', inH, kernel, stride);
      return { inH, inW, outH: resolveAxis(inH, kernel, stride, rows.before, rows.after), outW, padTop: rows.before, padLeft: columns.before };
    }
    // Explicit top padding and none below: the input has just the rows that outRows windows reach.
    const padTop = random.int(0, kernel - 1);
    const inH = (outRows - 1) * stride + kernel - padTop;
    return { inH, inW, outH: outRows, outW, padTop, padLeft: columns.before };
  }
  const targetRows = Math.max(1, Math.ceil(targetWork / (outW * workPerPixel)));
  // Input rows that give targetRows output rows: about stride per row, at least one.
  let inH = Math.max(1, targetRows * stride - random.int(0, stride - 1));
  let rows = pickPadding(random, mode, inH, kernel, stride);
  let outH = resolveAxis(inH, kernel, stride, rows.before, rows.after);
  while (outH < targetRows) {
    inH++;
    rows = pickPadding(random, mode, inH, kernel, stride);
    outH = resolveAxis(inH, kernel, stride, rows.before, rows.after);
  }
  return { inH, inW, outH, outW, padTop: rows.before, padLeft: columns.before };
}

/** True when a convolution's rows can be split: two or more rows, and the last window starts inside the input. */
function convRowsSplit(shape: ConvShape, stride: number): boolean {
  return shape.outH >= 2 && (shape.outH - 1) * stride - shape.padTop < shape.inH;
}

function buildCases(): SplitCase[] {
  const cases: SplitCase[] = [];
  const seed0 = (baseSeed() ^ 0x7b3d1c55) >>> 0;
  const random = new Random(seed0);
  let index = 0;
  const nextSeed = () => (seed0 + 7919 * ++index) >>> 0;
  const modes: PaddingMode[] = ['same', 'explicit'];
  /** Work of a case: above MIN_SPLIT_WORK by a random factor, except every fourth case, which is below it. */
  const targetWork = (i: number) => (i % 4 === 3 ? MIN_SPLIT_WORK * random.uniform(0.2, 0.9) : MIN_SPLIT_WORK * random.uniform(1.05, 3));

  // Depthwise convolutions: channels below, at and above the SIMD tile of 4, both kernels and strides.
  const dwChannels = [1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 17, 24];
  dwChannels.forEach((channels, i) => {
    for (const kernel of [3, 5]) {
      const stride = random.pick([1, 2]);
      const mode = random.pick(modes);
      const activation = random.pick(ACTIVATIONS);
      const seed = nextSeed();
      const shape = pickShape(random, kernel, stride, mode, channels * kernel * kernel, targetWork(i + kernel));
      cases.push(dwconvCase(shape, channels, kernel, stride, mode, activation, random.next() < 0.8, seed));
    }
  });
  // Outputs of one and two rows, and a last row whose window lies in the bottom padding.
  for (const [rows, mode] of [[1, 'explicit'], [2, 'same'], [2, 'explicit'], [undefined, 'bottom-window-in-padding']] as const) {
    for (const kernel of [3, 5]) {
      const stride = random.pick([1, 2]);
      const channels = random.pick([5, 16, 24]);
      const seed = nextSeed();
      const shape = pickShape(random, kernel, stride, mode, channels * kernel * kernel, 2 * MIN_SPLIT_WORK, rows);
      cases.push(dwconvCase(shape, channels, kernel, stride, mode, 'swish', true, seed));
    }
  }

  // Regular convolutions (the stem): input channels below the tile, output channels around the tile and the panel.
  const convChannels: [number, number][] = [[1, 1], [3, 3], [3, 4], [3, 5], [1, 8], [3, 9], [4, 16], [5, 17], [3, 32], [2, 7]];
  convChannels.forEach(([inC, outC], i) => {
    for (const kernel of [3, 5]) {
      const stride = random.pick([1, 2]);
      const mode = random.pick(modes);
      const seed = nextSeed();
      const shape = pickShape(random, kernel, stride, mode, inC * outC * kernel * kernel, targetWork(i + kernel));
      cases.push(convCase(shape, inC, outC, kernel, stride, mode, random.pick(ACTIVATIONS), random.next() < 0.8, seed));
    }
  });
  for (const [rows, mode] of [[2, 'explicit'], [undefined, 'bottom-window-in-padding']] as const) {
    const kernel = 3;
    const stride = 2;
    const seed = nextSeed();
    const shape = pickShape(random, kernel, stride, mode, 3 * 16 * 9, 2 * MIN_SPLIT_WORK, rows);
    cases.push(convCase(shape, 3, 16, kernel, stride, mode, 'relu6', true, seed));
  }

  // GEMMs: M below and above the 4-row tile, N below, at and above the 8-column panel.
  const gemmRows = [1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 17, 33, 49, 100];
  const gemmColumns = [1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 24, 33, 40];
  let g = 0;
  for (const m of gemmRows) {
    for (const n of random.next() < 0.5 ? gemmColumns.slice(0, 7) : gemmColumns.slice(6)) {
      if (random.next() < 0.55) continue;
      const work = targetWork(g++);
      const k = Math.max(1, Math.min(12_000, Math.ceil(work / (m * n))));
      const residual = random.pick(['none', 'buffer', 'in-place'] as const);
      cases.push(gemmCase(m, k, n, random.pick(ACTIVATIONS), random.next() < 0.7, residual, random.next() < 0.4, nextSeed()));
    }
  }
  // K = 2048 puts 2 panels in each 128 KiB panel block, so N = 40 needs 3 blocks.
  cases.push(gemmCase(33, 2048, 40, 'swish', true, 'buffer', true, nextSeed()));
  cases.push(gemmCase(3, 2048, 40, 'sigmoid', true, 'none', false, nextSeed()));
  // EfficientNet-B0's classifier and a squeeze-excite expand: one row, many panels.
  cases.push(gemmCase(1, 1280, 1000, 'linear', true, 'none', false, nextSeed()));
  cases.push(gemmCase(1, 48, 1152, 'sigmoid', true, 'none', false, nextSeed()));

  // Elementwise kernels: counts that do not divide the SIMD tile.
  for (const count of [MIN_SPLIT_WORK + 1, MIN_SPLIT_WORK * 2 + 3, 3 * MIN_SPLIT_WORK + 2, MIN_SPLIT_WORK - 5]) {
    cases.push(addCase(count, nextSeed()));
    cases.push(quantizeGridCase(count, nextSeed()));
    cases.push(addRequantizeCase(count, nextSeed()));
  }
  for (const [pixels, channels, perChannel] of [[1000, 51, true], [7, 8000, false], [12_345, 5, true], [3, 1000, true]] as const) {
    cases.push(requantizeCase(pixels, channels, perChannel, nextSeed()));
  }
  for (const [pixels, channels] of [[49, 1280], [3136, 24], [196, 675], [10, 100]] as const) {
    cases.push(globalAvgPoolCase(pixels, channels, nextSeed()));
  }
  return cases;
}

function dwconvCase(
  shape: ConvShape, channels: number, kernel: number, stride: number, mode: PaddingMode,
  activation: Activation, hasBias: boolean, seed: number,
): SplitCase {
  const { inH, inW, outH, outW, padTop, padLeft } = shape;
  const work = outH * outW * channels * kernel * kernel;
  return {
    name: `dwconv2d ${kernel}x${kernel}/${stride} C=${channels} ${inH}x${inW}->${outH}x${outW} pad ${mode} ${padTop},${padLeft}`,
    params: { inH, inW, channels, outH, outW, kernel, stride, padTop, padLeft, activation, hasBias, work },
    seed,
    mustSplit: () => work >= MIN_SPLIT_WORK && convRowsSplit(shape, stride),
    setup(arena, random) {
      const input = arena.input('input', random.floats(inH * inW * channels, -2, 2));
      const weight = arena.input('weight', random.floats(kernel * kernel * channels, -1, 1));
      const bias = hasBias ? arena.input('bias', random.floats(channels, -0.5, 0.5)) : 0;
      return {
        outputCount: outH * outW * channels,
        initialOutput: null,
        call: (output) => kernelCall(
          'dwconv2d_f32', input, inH, inW, channels, weight, bias, output, outH, outW, kernel, stride, padTop, padLeft,
          ACTIVATION_CODES[activation],
        ),
      };
    },
  };
}

function convCase(
  shape: ConvShape, inC: number, outC: number, kernel: number, stride: number, mode: PaddingMode,
  activation: Activation, hasBias: boolean, seed: number,
): SplitCase {
  const { inH, inW, outH, outW, padTop, padLeft } = shape;
  const work = outH * outW * outC * inC * kernel * kernel;
  return {
    name: `conv2d ${kernel}x${kernel}/${stride} ${inC}->${outC} ${inH}x${inW}->${outH}x${outW} pad ${mode} ${padTop},${padLeft}`,
    params: { inH, inW, inC, outC, outH, outW, kernel, stride, padTop, padLeft, activation, hasBias, work },
    seed,
    mustSplit: () => work >= MIN_SPLIT_WORK && convRowsSplit(shape, stride),
    setup(arena, random) {
      const input = arena.input('input', random.floats(inH * inW * inC, -2, 2));
      const weight = arena.input('weight', random.floats(kernel * kernel * inC * outC, -1, 1));
      const bias = hasBias ? arena.input('bias', random.floats(outC, -0.5, 0.5)) : 0;
      return {
        outputCount: outH * outW * outC,
        initialOutput: null,
        call: (output) => kernelCall(
          'conv2d_f32', input, inH, inW, inC, weight, bias, output, outH, outW, outC, kernel, stride, padTop, padLeft,
          ACTIVATION_CODES[activation],
        ),
      };
    },
  };
}

/** Packs a row-major [k, n] matrix in the arena and returns the packed pointer. */
function packWeights(arena: Arena, values: Float32Array, k: number, n: number): number {
  const source = arena.input('b', values);
  const packed = arena.output('packed', arena.exports.gemm_packed_size(k, n));
  arena.exports.gemm_pack_f32(source, k, n, packed);
  // The packed matrix is an input from here on: damage() then also checks that no part writes it.
  const entry = arena.buffers[arena.buffers.length - 1];
  entry.initial = arena.read(packed, entry.count);
  return packed;
}

function gemmCase(
  m: number, k: number, n: number, activation: Activation, hasBias: boolean,
  residual: 'none' | 'buffer' | 'in-place', hasInputScale: boolean, seed: number,
): SplitCase {
  const work = m * k * n;
  const tiles = Math.ceil(m / GEMM_TILE_ROWS);
  const panels = Math.ceil(n / GEMM_PANEL_COLUMNS);
  return {
    name: `gemm ${m}x${k}x${n} ${activation}${hasBias ? ' bias' : ''} residual ${residual}${hasInputScale ? ' scale' : ''}`,
    params: { m, k, n, activation, hasBias, residual, hasInputScale, work },
    seed,
    // Rows need a tile per part, and panels need two panels. Between those (2 <= tiles < parts, one panel) the call may stay whole.
    mustSplit: (parts) => work >= MIN_SPLIT_WORK && (tiles >= parts || panels >= 2),
    setup(arena, random) {
      const a = arena.input('a', random.floats(m * k, -1, 1));
      const packed = packWeights(arena, random.floats(k * n, -1, 1), k, n);
      const bias = hasBias ? arena.input('bias', random.floats(n, -1, 1)) : 0;
      const scale = hasInputScale ? arena.input('inputScale', random.floats(k, 0, 1)) : 0;
      const residualValues = residual === 'none' ? null : random.floats(m * n, -2, 2);
      const residualPointer = residual === 'buffer' ? arena.input('residual', residualValues!) : 0;
      return {
        outputCount: m * n,
        initialOutput: residual === 'in-place' ? residualValues : null,
        call: (output) => kernelCall(
          'gemm_f32', a, m, k, packed, n, bias, output, ACTIVATION_CODES[activation],
          residual === 'in-place' ? output : residualPointer, scale,
        ),
      };
    },
  };
}

function addCase(count: number, seed: number): SplitCase {
  return {
    name: `add ${count}`,
    params: { count },
    seed,
    mustSplit: () => count >= MIN_SPLIT_WORK,
    setup(arena, random) {
      const a = arena.input('a', random.floats(count, -3, 3));
      const b = arena.input('b', random.floats(count, -3, 3));
      return { outputCount: count, initialOutput: null, call: (output) => kernelCall('add_f32', a, b, output, count) };
    },
  };
}

function quantizeGridCase(count: number, seed: number): SplitCase {
  const scale = Math.fround(0.0473);
  return {
    name: `quantize_grid ${count}`,
    params: { count, scale },
    seed,
    mustSplit: () => count >= MIN_SPLIT_WORK,
    setup(_arena, random) {
      return {
        outputCount: count,
        initialOutput: random.floats(count, -8, 8),
        call: (data) => kernelCall('quantize_grid_f32', data, count, scale, 3, -128, 127),
      };
    },
  };
}

function requantizeCase(pixels: number, channels: number, perChannel: boolean, seed: number): SplitCase {
  const work = pixels * channels;
  return {
    name: `requantize ${pixels}x${channels}${perChannel ? ' per channel' : ''}`,
    params: { pixels, channels, perChannel, work },
    seed,
    mustSplit: () => work >= MIN_SPLIT_WORK && pixels >= 2,
    setup(arena, random) {
      const multipliers = arena.input('multipliers', random.floats(perChannel ? channels : 1, 0.001, 0.02));
      // Integer accumulators, as the integer pipeline stores them.
      const accumulators = Float32Array.from(random.floats(work, -20_000, 20_000), (value) => Math.round(value));
      return {
        outputCount: work,
        initialOutput: accumulators,
        call: (data) => kernelCall('requantize_f32', data, pixels, channels, multipliers, perChannel ? 1 : 0, -128, 127),
      };
    },
  };
}

function addRequantizeCase(count: number, seed: number): SplitCase {
  return {
    name: `add_requantize ${count}`,
    params: { count },
    seed,
    mustSplit: () => count >= MIN_SPLIT_WORK,
    setup(arena, random) {
      const round = (values: Float32Array) => values.map((value) => Math.round(value));
      const a = arena.input('a', round(random.floats(count, -128, 127)));
      const b = arena.input('b', round(random.floats(count, -128, 127)));
      return {
        outputCount: count,
        initialOutput: null,
        call: (output) => kernelCall('add_requantize_f32', a, Math.fround(0.61), b, Math.fround(0.83), output, count, -128, 127),
      };
    },
  };
}

function globalAvgPoolCase(pixels: number, channels: number, seed: number): SplitCase {
  return {
    name: `global_avg_pool ${pixels}x${channels}`,
    params: { pixels, channels },
    seed,
    // NOTE: splitting the pool is optional (it is a small share of a network), so a whole call is accepted here.
    mustSplit: () => false,
    setup(arena, random) {
      const input = arena.input('input', random.floats(pixels * channels, -4, 4));
      return { outputCount: channels, initialOutput: null, call: (output) => kernelCall('global_avg_pool_f32', input, pixels, channels, output) };
    },
  };
}

/** Allocates an output for a case: its starting values, or NaN. */
function allocateOutput(arena: Arena, name: string, setup: ReturnType<SplitCase['setup']>): number {
  return setup.initialOutput ? arena.inPlace(name, setup.initialOutput) : arena.output(name, setup.outputCount);
}

/** Resets an output to its starting values, or to NaN. */
function resetOutput(arena: Arena, pointer: number, setup: ReturnType<SplitCase['setup']>): void {
  if (setup.initialOutput) arena.kernels.writeF32(pointer, setup.initialOutput);
  else arena.kernels.f32.fill(Number.NaN, pointer >>> 2, (pointer >>> 2) + setup.outputCount);
}

/** Elements of an output whose bits differ from its starting values (or that are no longer NaN). */
function changedElements(before: Float32Array | null, after: Float32Array): number[] {
  const changed: number[] = [];
  const beforeBits = before ? new Uint32Array(before.buffer, before.byteOffset, before.length) : null;
  const afterBits = new Uint32Array(after.buffer, after.byteOffset, after.length);
  for (let i = 0; i < after.length; i++) {
    if (beforeBits ? beforeBits[i] !== afterBits[i] : !Number.isNaN(after[i])) changed.push(i);
  }
  return changed;
}

const CASES = buildCases();

/** Counts, per kernel, of split calls and of calls that had enough work but stayed whole. */
const splitTally = new Map<string, { split: number; whole: string[] }>();

describe.each(BUILDS)('splitCall on the %s build', (build) => {
  test.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, testCase) => {
    await withArena(build, (arena) => {
      const random = new Random(testCase.seed);
      const setup = testCase.setup(arena, random);
      const unsplitPointer = allocateOutput(arena, 'unsplit output', setup);
      const splitPointer = allocateOutput(arena, 'split output', setup);
      const call = setup.call(unsplitPointer);
      const kernel = kernelName(call);
      const label: CaseLabel = { op: `${kernel}/${build}`, params: testCase.params, seed: testCase.seed };

      invoke(arena, call);
      const expected = arena.read(unsplitPointer, setup.outputCount);
      const written = changedElements(setup.initialOutput, expected);
      // An in-place kernel may leave a value that already sits on its grid, but other kernels must write every element.
      if (setup.initialOutput) expect(written.length, `${describeCase(label)}: elements the unsplit call changed`).toBeGreaterThan(0);
      else expect(written.length, `${describeCase(label)}: elements the unsplit call wrote`).toBe(setup.outputCount);

      for (const partCount of PART_COUNTS) {
        const context = `${partCount} parts`;
        const whole = setup.call(splitPointer);
        const parts = splitCall(whole, partCount);
        const work = callWork(whole);
        const tally = splitTally.get(kernel) ?? { split: 0, whole: [] };
        splitTally.set(kernel, tally);
        if (work < MIN_SPLIT_WORK) {
          expect(parts, `${describeCase(label)}: ${context}: a call below MIN_SPLIT_WORK (${work}) stays whole`).toBeNull();
          continue;
        }
        if (testCase.mustSplit(partCount)) {
          expect(parts, `${describeCase(label)}: ${context}: splitCall returned null for work ${work}`).not.toBeNull();
          expect(parts!.length, `${describeCase(label)}: ${context}: part count`).toBeGreaterThan(1);
        }
        if (parts === null) {
          tally.whole.push(`${testCase.name} in ${partCount}`);
          continue;
        }
        tally.split++;
        expect(parts.length, `${describeCase(label)}: ${context}: part count`).toBeLessThanOrEqual(partCount);

        // Each part alone: the elements it writes must not overlap another part's.
        if (!setup.initialOutput) {
          const owner = new Int32Array(setup.outputCount).fill(-1);
          parts.forEach((part, p) => {
            resetOutput(arena, splitPointer, setup);
            invoke(arena, part);
            const changed = changedElements(null, arena.read(splitPointer, setup.outputCount));
            expect(changed.length, `${describeCase(label)}: ${context}: part ${p} (${JSON.stringify(part.args)}) writes nothing`).toBeGreaterThan(0);
            for (const i of changed) {
              if (owner[i] !== -1) assert.fail(`${describeCase(label)}: ${context}: element ${i} is written by parts ${owner[i]} and ${p}`);
              owner[i] = p;
            }
          });
        }

        // All parts, last first, so a part that depended on an earlier one's output would show.
        resetOutput(arena, splitPointer, setup);
        for (const part of [...parts].reverse()) invoke(arena, part);
        expectSameBits(label, `${context} against the unsplit call`, arena.read(splitPointer, setup.outputCount), expected);
        expectNoDamage(label, arena);
      }
    });
  });
});

describe('splitCall coverage', () => {
  test('most calls above MIN_SPLIT_WORK split', () => {
    // Needs the cases above to have run, which vitest does in file order.
    const lines = [...splitTally.entries()].map(([kernel, { split, whole }]) => `${kernel}: ${split} split, ${whole.length} whole`);
    console.log(`splitCall over ${BUILDS.length} builds:\n  ${lines.join('\n  ')}`);
    for (const [kernel, { split, whole }] of splitTally) {
      if (kernel === 'global_avg_pool_f32') continue;
      expect(split, `${kernel}: calls split`).toBeGreaterThan(0);
      expect(whole.length, `${kernel}: calls with work above MIN_SPLIT_WORK left whole: ${whole.slice(0, 5).join('; ')}`).toBeLessThanOrEqual(split / 4);
    }
  });
});

describe.each(BUILDS)('gemm_panels_f32 on the %s build', (build) => {
  const seed0 = (baseSeed() ^ 0x51ed2701) >>> 0;
  const random = new Random(seed0);
  const cases = Array.from({ length: 24 }, (_, i) => {
    const m = random.pick([1, 2, 3, 4, 5, 7, 9, 16, 33]);
    const n = random.pick([1, 5, 8, 9, 16, 17, 31, 40, 65]);
    const k = i < 3 ? 2048 : random.pick([1, 3, 4, 8, 17, 64, 161]);
    const panels = Math.ceil(n / GEMM_PANEL_COLUMNS);
    // Ranges that start before 0 or end past the last panel are clamped, and an empty range writes nothing.
    const panelStart = random.int(-2, panels + 1);
    const panelEnd = random.int(panelStart - 1, panels + 2);
    return {
      name: `${m}x${k}x${n} panels [${panelStart}, ${panelEnd})`,
      m, k, n, panelStart, panelEnd,
      activation: random.pick(ACTIVATIONS),
      hasBias: random.next() < 0.7,
      hasResidual: random.next() < 0.5,
      hasInputScale: random.next() < 0.4,
      seed: (seed0 + 3571 * i) >>> 0,
    };
  });

  test.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    await withArena(build, (arena) => {
      const { m, k, n, panelStart, panelEnd, activation, seed } = c;
      const random = new Random(seed);
      const aValues = random.floats(m * k, -1, 1);
      const bValues = random.floats(k * n, -1, 1);
      const biasValues = c.hasBias ? random.floats(n, -1, 1) : null;
      const residualValues = c.hasResidual ? random.floats(m * n, -2, 2) : null;
      const scaleValues = c.hasInputScale ? random.floats(k, 0, 1) : null;
      const label: CaseLabel = { op: `gemm_panels_f32/${build}`, params: { m, k, n, panelStart, panelEnd, activation, bias: c.hasBias, residual: c.hasResidual, inputScale: c.hasInputScale }, seed };

      const a = arena.input('a', aValues);
      const packed = packWeights(arena, bValues, k, n);
      const bias = biasValues ? arena.input('bias', biasValues) : 0;
      const residual = residualValues ? arena.input('residual', residualValues) : 0;
      const scale = scaleValues ? arena.input('inputScale', scaleValues) : 0;
      const whole = arena.output('gemm_f32 output', m * n);
      const panelOutput = arena.output('gemm_panels_f32 output', m * n);
      const code = ACTIVATION_CODES[activation];
      arena.exports.gemm_f32(a, m, k, packed, n, bias, whole, code, residual, scale);
      arena.exports.gemm_panels_f32(a, m, k, packed, n, bias, panelOutput, code, residual, scale, panelStart, panelEnd);

      const firstColumn = Math.max(panelStart, 0) * GEMM_PANEL_COLUMNS;
      const endColumn = Math.min(n, Math.max(panelEnd, 0) * GEMM_PANEL_COLUMNS);
      const reference = gemmReference(aValues, m, k, bValues, n, biasValues, activation, residualValues, scaleValues);
      const actual = arena.read(panelOutput, m * n);
      const wholeValues = arena.read(whole, m * n);
      const inRange: number[] = [];
      for (let row = 0; row < m; row++) {
        for (let column = 0; column < n; column++) {
          const index = row * n + column;
          if (column >= firstColumn && column < endColumn) {
            inRange.push(index);
          } else if (!Number.isNaN(actual[index])) {
            assert.fail(`${describeCase(label)}: row ${row}, column ${column} lies outside the panels but was written (${actual[index]})`);
          }
        }
      }
      const pick = (values: ArrayLike<number>) => Float32Array.from(inRange, (index) => values[index]);
      expectClose(label, TOLERANCES.gemm, pick(actual), Float64Array.from(inRange, (index) => reference.values[index]), pick(reference.magnitude));
      expectSameBits(label, 'panel columns against gemm_f32', pick(actual), pick(wholeValues));
      expectNoDamage(label, arena);
    });
  });
});

/** A step's kernel calls, as the executor issues them, built for a given output pointer. */
interface StepSetup {
  outputCount: number;
  calls: (output: number) => KernelCall[];
}

describe.each(BUILDS)('partition on the %s build', (build) => {
  /** Runs a step's calls serially and as partitioned parts (last part first), and compares the outputs. */
  async function checkPartition(
    name: string, seed: number, threads: number, makeStep: (arena: Arena, random: Random) => StepSetup,
    expectation: 'slices' | 'whole calls' | 'one thread',
  ): Promise<void> {
    await withArena(build, (arena) => {
      const random = new Random(seed);
      const label: CaseLabel = { op: `partition/${build}`, params: { name, threads }, seed };
      const step = makeStep(arena, random);
      const serialOutput = arena.output('serial output', step.outputCount);
      const parallelOutput = arena.output('parallel output', step.outputCount);

      for (const call of step.calls(serialOutput)) invoke(arena, call);
      const expected = arena.read(serialOutput, step.outputCount);
      const calls = step.calls(parallelOutput);
      const parts = partition(calls, threads);
      if (expectation === 'one thread') {
        expect(parts, `${describeCase(label)}: partition`).toBeNull();
        return;
      }
      // The parts may outnumber the threads, which then take turns, but there must be more than one.
      expect(parts, `${describeCase(label)}: partition`).not.toBeNull();
      expect(parts!.length, `${describeCase(label)}: part count`).toBeGreaterThan(1);
      for (const part of parts!) expect(part.length, `${describeCase(label)}: calls in a part`).toBeGreaterThan(0);
      if (expectation === 'whole calls') {
        // Every call lands in exactly one part, unchanged and in order.
        expect(parts!.flat(), `${describeCase(label)}: calls spread over parts`).toEqual(calls);
      } else {
        // Every part takes a slice of every call.
        for (const part of parts!) expect(part.length, `${describeCase(label)}: calls per part`).toBe(calls.length);
      }
      for (const part of [...parts!].reverse()) for (const call of part) invoke(arena, call);
      expectSameBits(label, 'partitioned step against the serial calls', arena.read(parallelOutput, step.outputCount), expected);
      expectNoDamage(label, arena);
    });
  }

  const seed0 = (baseSeed() ^ 0x2c1b3a4d) >>> 0;

  /** Per-image 3x3 depthwise convolutions of a batch of size x size images. */
  const dwconvBatch = (images: number, size: number, channels: number) => (arena: Arena, random: Random): StepSetup => {
    const imageFloats = size * size * channels;
    const input = arena.input('input', random.floats(images * imageFloats, -2, 2));
    const weight = arena.input('weight', random.floats(9 * channels, -1, 1));
    const bias = arena.input('bias', random.floats(channels, -0.5, 0.5));
    return {
      outputCount: images * imageFloats,
      calls: (output) => Array.from({ length: images }, (_, i) => kernelCall(
        'dwconv2d_f32', input + 4 * i * imageFloats, size, size, channels, weight, bias, output + 4 * i * imageFloats,
        size, size, 3, 1, 1, 1, ACTIVATION_CODES.swish,
      )),
    };
  };

  /** Per-image squeeze-excite GEMMs (one row each) of a batch. */
  const gateBatch = (images: number, k: number, n: number) => (arena: Arena, random: Random): StepSetup => {
    const a = arena.input('a', random.floats(images * k, -1, 1));
    const packed = packWeights(arena, random.floats(k * n, -1, 1), k, n);
    const bias = arena.input('bias', random.floats(n, -1, 1));
    return {
      outputCount: images * n,
      calls: (output) => Array.from({ length: images }, (_, i) => kernelCall(
        'gemm_f32', a + 4 * i * k, 1, k, packed, n, bias, output + 4 * i * n, ACTIVATION_CODES.sigmoid, 0, 0,
      )),
    };
  };

  for (const threads of [2, 3, 4, 5]) {
    test(`${threads} threads: every image's dwconv in slices`, async () => {
      await checkPartition('dwconv batch of 3', seed0 + threads, threads, dwconvBatch(3, 23, 24), 'slices');
    });
    test(`${threads} threads: small per-image GEMMs whole`, async () => {
      // Each call is 1 x 96 x 60 multiply-adds, below MIN_SPLIT_WORK, but ten of them are above it.
      await checkPartition('gemm batch of 10', seed0 + 10 + threads, threads, gateBatch(10, 96, 60), 'whole calls');
    });
    test(`${threads} threads: step below MIN_SPLIT_WORK stays whole`, async () => {
      await checkPartition('gemm batch of 2', seed0 + 20 + threads, threads, gateBatch(2, 40, 30), 'one thread');
    });
  }

  test('1 thread never partitions', async () => {
    await checkPartition('dwconv batch of 2', seed0 + 30, 1, dwconvBatch(2, 40, 32), 'one thread');
  });
});
