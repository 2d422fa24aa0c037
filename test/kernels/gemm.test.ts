import { assert, describe, it } from 'vitest';
import { ACTIVATION_CODES, type Activation } from '../../src/graph/spec.js';
import { ACTIVATIONS } from '../reference/activation.js';
import { gemmReference } from '../reference/gemm.js';
import { Arena, BUILDS } from '../support/buffers.js';
import { describeCase, expectClose, expectNoDamage, type CaseLabel } from '../support/check.js';
import { baseSeed, Random } from '../support/prng.js';
import { TOLERANCES } from '../support/tolerances.js';

interface GemmCase {
  name: string;
  seed: number;
  m: number;
  k: number;
  n: number;
  hasBias: boolean;
  hasResidual: boolean;
  hasInputScale: boolean;
  activation: Activation;
}

/** Sizes around the 4-row and 8-column tile, and above it. */
const TILE_SIZES = [1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 17, 33] as const;

/** EfficientNet-B0 1x1 convolutions as [M, K, N] (M = output pixels). */
const B0_SHAPES: [number, number, number][] = [
  [112 * 112, 32, 16],
  [112 * 112, 16, 96],
  [56 * 56, 24, 144],
  [56 * 56, 144, 24],
  [28 * 28, 240, 40],
  [14 * 14, 480, 80],
  [14 * 14, 672, 112],
  [7 * 7, 1152, 192],
  [7 * 7, 1152, 320],
  [7 * 7, 320, 1280],
  // Squeeze-excite reduce and expand, and the classifier: M = 1.
  [1, 96, 4],
  [1, 4, 96],
  [1, 1280, 1000],
];

function buildCases(): GemmCase[] {
  const cases: GemmCase[] = [];
  const seed0 = baseSeed() ^ 0x9e3779b9;
  let index = 0;
  const add = (m: number, k: number, n: number, options: Omit<GemmCase, 'name' | 'seed' | 'm' | 'k' | 'n'>) => {
    const seed = (seed0 + 104729 * index++) >>> 0;
    const extras = [options.hasBias && 'bias', options.hasResidual && 'residual', options.hasInputScale && 'scale']
      .filter(Boolean)
      .join(' ');
    cases.push({ name: `${m}x${k}x${n} ${options.activation} ${extras}`.trim(), seed, m, k, n, ...options });
  };

  // M and N across the tile, K across short and odd depths, all options drawn at random.
  const random = new Random(seed0);
  for (const m of TILE_SIZES) {
    for (const n of TILE_SIZES) {
      add(m, random.pick(TILE_SIZES), n, {
        hasBias: random.next() < 0.5,
        hasResidual: random.next() < 0.5,
        hasInputScale: random.next() < 0.5,
        activation: random.pick(ACTIVATIONS),
      });
    }
  }
  // Every combination of the optional inputs, with every activation.
  for (let flags = 0; flags < 8; flags++) {
    for (const activation of ACTIVATIONS) {
      add(random.pick(TILE_SIZES), random.pick(TILE_SIZES), random.pick(TILE_SIZES), {
        hasBias: (flags & 1) !== 0,
        hasResidual: (flags & 2) !== 0,
        hasInputScale: (flags & 4) !== 0,
        activation,
      });
    }
  }
  // K = 2048 puts 2 panels in each 128 KiB panel block, so N = 33 needs 3 blocks and
  // the kernel applies the activation and residual inside each tile, not per row strip.
  for (const activation of ACTIVATIONS) {
    add(9, 2048, 33, { hasBias: true, hasResidual: true, hasInputScale: activation !== 'relu', activation });
  }
  for (const [m, k, n] of B0_SHAPES) {
    add(m, k, n, { hasBias: true, hasResidual: k < n ? false : m > 1, hasInputScale: k > n && m > 1, activation: k < n ? 'swish' : 'linear' });
  }
  return cases;
}

const CASES = buildCases();

describe.each(BUILDS)('gemm_f32 (%s build)', (build) => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, testCase) => {
    const { m, k, n, hasBias, hasResidual, hasInputScale, activation, seed } = testCase;
    const random = new Random(seed);
    const aValues = random.floats(m * k, -1, 1);
    const bValues = random.floats(k * n, -1, 1);
    const biasValues = hasBias ? random.floats(n, -1, 1) : null;
    const residualValues = hasResidual ? random.floats(m * n, -2, 2) : null;
    // A squeeze-excite gate is a sigmoid output in (0, 1).
    const scaleValues = hasInputScale ? random.floats(k, 0, 1) : null;
    const label: CaseLabel = {
      op: `gemm_f32/${build}`,
      params: { m, k, n, bias: hasBias, residual: hasResidual, inputScale: hasInputScale, activation },
      seed,
    };

    const arena = await Arena.create(build);
    const source = arena.input('b', bValues);
    const packedCount = arena.exports.gemm_packed_size(k, n);
    assert.strictEqual(packedCount, Math.ceil(n / 8) * 8 * k, `${describeCase(label)}: gemm_packed_size`);
    const packed = arena.output('packed', packedCount);
    arena.exports.gemm_pack_f32(source, k, n, packed);
    const packedValues = arena.read(packed, packedCount);
    for (let i = 0; i < packedCount; i++) {
      const panel = Math.floor(i / (8 * k));
      const row = Math.floor((i % (8 * k)) / 8);
      const column = panel * 8 + (i % 8);
      const expected = column < n ? bValues[row * n + column] : 0;
      if (packedValues[i] !== expected) {
        assert.fail(`${describeCase(label)}: packed element ${i} (row ${row}, column ${column}) is ${packedValues[i]}, expected ${expected}`);
      }
    }

    const a = arena.input('a', aValues);
    const bias = biasValues ? arena.input('bias', biasValues) : 0;
    const residual = residualValues ? arena.input('residual', residualValues) : 0;
    const inputScale = scaleValues ? arena.input('inputScale', scaleValues) : 0;
    const output = arena.output('output', m * n);
    arena.exports.gemm_f32(a, m, k, packed, n, bias, output, ACTIVATION_CODES[activation], residual, inputScale);

    const expected = gemmReference(aValues, m, k, bValues, n, biasValues, activation, residualValues, scaleValues);
    expectClose(label, TOLERANCES.gemm, arena.read(output, m * n), expected.values, expected.magnitude);
    expectNoDamage(label, arena);
  });
});

describe.each(BUILDS)('gemm_f32 residual in place (%s build)', (build) => {
  it.each(['swish', 'linear'] as const)('adds the residual in the output buffer (%s)', async (activation) => {
    const [m, k, n] = [9, 24, 13];
    const seed = (baseSeed() + 4242) >>> 0;
    const random = new Random(seed);
    const aValues = random.floats(m * k, -1, 1);
    const bValues = random.floats(k * n, -1, 1);
    const biasValues = random.floats(n, -1, 1);
    const residualValues = random.floats(m * n, -2, 2);
    const label: CaseLabel = { op: `gemm_f32/${build}`, params: { m, k, n, activation, residual: 'same buffer as output' }, seed };

    const arena = await Arena.create(build);
    const source = arena.input('b', bValues);
    const packed = arena.output('packed', arena.exports.gemm_packed_size(k, n));
    arena.exports.gemm_pack_f32(source, k, n, packed);
    const a = arena.input('a', aValues);
    const bias = arena.input('bias', biasValues);
    const output = arena.inPlace('output and residual', residualValues);
    arena.exports.gemm_f32(a, m, k, packed, n, bias, output, ACTIVATION_CODES[activation], output, 0);

    const expected = gemmReference(aValues, m, k, bValues, n, biasValues, activation, residualValues, null);
    expectClose(label, TOLERANCES.gemm, arena.read(output, m * n), expected.values, expected.magnitude);
    expectNoDamage(label, arena);
  });
});
