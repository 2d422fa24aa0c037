import { assert, describe, it } from 'vitest';
import { quantizeGridReference, softmaxReference } from '../reference/elementwise.js';
import { Arena, BUILDS } from '../support/buffers.js';
import { describeCase, expectClose, expectNoDamage, type CaseLabel } from '../support/check.js';
import { baseSeed, Random } from '../support/prng.js';
import { TOLERANCES } from '../support/tolerances.js';

interface Grid {
  scale: number;
  zeroPoint: number;
  qmin: number;
  qmax: number;
}

/** uint8 and int8 grids as TFLite files use them, with f32 scales. */
const GRIDS: Grid[] = [
  { scale: Math.fround(0.0235294122248888), zeroPoint: 128, qmin: 0, qmax: 255 },
  { scale: Math.fround(0.1), zeroPoint: -3, qmin: -128, qmax: 127 },
  { scale: 0.5, zeroPoint: 0, qmin: -128, qmax: 127 },
  { scale: Math.fround(1 / 256), zeroPoint: 0, qmin: 0, qmax: 255 },
];

async function runQuantize(build: 'simd' | 'scalar', values: Float32Array, grid: Grid): Promise<{ arena: Arena; result: Float32Array }> {
  const arena = await Arena.create(build);
  const data = arena.inPlace('data', values);
  arena.exports.quantize_grid_f32(data, values.length, grid.scale, grid.zeroPoint, grid.qmin, grid.qmax);
  return { arena, result: arena.read(data, values.length) };
}

describe.each(BUILDS)('quantize_grid_f32 (%s build)', (build) => {
  it.each(GRIDS.map((grid) => [`scale ${grid.scale} zero ${grid.zeroPoint}`, grid] as const))('rounds ties away from zero (%s)', async (_name, grid) => {
    // x = (k + 0.5) * scale for k on both sides of zero; with scale 0.5 the products are exact.
    const values = new Float32Array(40);
    for (let i = 0; i < values.length; i++) values[i] = (i - 20 + 0.5) * grid.scale;
    const { arena, result } = await runQuantize(build, values, grid);
    const label: CaseLabel = { op: `quantize_grid_f32/${build}`, params: { ...grid, input: 'ties' }, seed: 0 };
    expectClose(label, TOLERANCES.quantizeGrid, result, Array.from(values, (x) => quantizeGridReference(x, grid.scale, grid.zeroPoint, grid.qmin, grid.qmax)));
    expectNoDamage(label, arena);
  });

  it('rounds exact ties on a 0.5 grid', async () => {
    const grid = { scale: 0.5, zeroPoint: 0, qmin: -128, qmax: 127 };
    // x / 0.5 = 2.5, -2.5, 0.5, -0.5, 1.5, -1.5 -> 3, -3, 1, -1, 2, -2.
    const values = Float32Array.of(1.25, -1.25, 0.25, -0.25, 0.75, -0.75);
    const { result } = await runQuantize(build, values, grid);
    assert.deepEqual(Array.from(result), [1.5, -1.5, 0.5, -0.5, 1, -1], describeCase({ op: `quantize_grid_f32/${build}`, params: grid, seed: 0 }));
  });

  it('clamps to qmin and qmax', async () => {
    const grid = { scale: 0.5, zeroPoint: 10, qmin: 0, qmax: 255 };
    const values = Float32Array.of(-1e4, -5, -5.25, 1e4, 122.5, 122.75, 0, -0);
    const { arena, result } = await runQuantize(build, values, grid);
    const label: CaseLabel = { op: `quantize_grid_f32/${build}`, params: { ...grid, input: 'clamping' }, seed: 0 };
    // q range [0, 255] with zero point 10 is the real range [-5, 122.5].
    assert.deepEqual(Array.from(result), [-5, -5, -5, 122.5, 122.5, 122.5, 0, 0], describeCase(label));
    expectNoDamage(label, arena);
  });

  it.each([1, 3, 4, 7, 8, 33, 1001])('matches the reference on %i random values', async (count) => {
    const seed = (baseSeed() + 17 * count) >>> 0;
    const random = new Random(seed);
    const grid = random.pick(GRIDS);
    const span = (grid.qmax - grid.qmin) * grid.scale;
    const values = random.floats(count, -span, span);
    const { arena, result } = await runQuantize(build, values, grid);
    const label: CaseLabel = { op: `quantize_grid_f32/${build}`, params: { ...grid, count }, seed };
    expectClose(label, TOLERANCES.quantizeGrid, result, Array.from(values, (x) => quantizeGridReference(x, grid.scale, grid.zeroPoint, grid.qmin, grid.qmax)));
    expectNoDamage(label, arena);
  });
});

describe.each(BUILDS)('softmax_f32 (%s build)', (build) => {
  const cases: [string, (random: Random) => Float32Array][] = [
    ['1000 logits in [-10, 10]', (random) => random.floats(1000, -10, 10)],
    ['1000 logits near 1e4', (random) => random.floats(1000, 9990, 10010)],
    ['logits from -1e4 to 1e4', (random) => random.floats(13, -1e4, 1e4)],
    ['logits spread past the exp range', (random) => Float32Array.from({ length: 9 }, (_, i) => 50 - 20 * i + random.uniform(-1, 1))],
    ['one logit', () => Float32Array.of(123)],
    ['3 equal logits', () => Float32Array.of(88, 88, 88)],
    ['5 logits', (random) => random.floats(5, -3, 3)],
  ];
  it.each(cases)('matches the f64 reference on %s', async (name, draw) => {
    const seed = (baseSeed() + name.length * 101) >>> 0;
    const logits = draw(new Random(seed));
    const arena = await Arena.create(build);
    const data = arena.inPlace('data', logits);
    arena.exports.softmax_f32(data, logits.length);
    const label: CaseLabel = { op: `softmax_f32/${build}`, params: { input: name, count: logits.length }, seed };
    const result = arena.read(data, logits.length);
    expectClose(label, TOLERANCES.softmax, result, softmaxReference(logits));
    expectNoDamage(label, arena);
    const sum = result.reduce((total, value) => total + value, 0);
    assert.approximately(sum, 1, 1e-5, `${describeCase(label)}: probabilities sum to ${sum}`);
  });
});
