import { describe, it } from 'vitest';
import { globalAvgPoolReference, globalMaxPoolReference } from '../reference/elementwise.js';
import { Arena, BUILDS } from '../support/buffers.js';
import { expectClose, expectNoDamage, type CaseLabel } from '../support/check.js';
import { CHANNEL_COUNTS, SPATIAL_SIZES } from '../support/geometry.js';
import { baseSeed, Random } from '../support/prng.js';
import { TOLERANCES } from '../support/tolerances.js';

/** [pixels, channels]: tile sweeps plus the B0 squeeze-excite and head maps. */
const SHAPES: [number, number][] = [
  ...CHANNEL_COUNTS.map((channels, i) => [SPATIAL_SIZES[(i * 3) % SPATIAL_SIZES.length] ** 2, channels] as [number, number]),
  [112 * 112, 32],
  [56 * 56, 144],
  [7 * 7, 1280],
  [1, 7],
];

describe.each(BUILDS)('global pooling (%s build)', (build) => {
  it.each(SHAPES)('average pools %i pixels x %i channels', async (pixels, channels) => {
    const seed = (baseSeed() + 11 * pixels + channels) >>> 0;
    const random = new Random(seed);
    const inputValues = random.floats(pixels * channels, -3, 5);
    const arena = await Arena.create(build);
    const input = arena.input('input', inputValues);
    const output = arena.output('output', channels);
    arena.exports.global_avg_pool_f32(input, pixels, channels, output);
    const label: CaseLabel = { op: `global_avg_pool_f32/${build}`, params: { pixels, channels }, seed };
    const expected = globalAvgPoolReference(inputValues, pixels, channels);
    expectClose(label, TOLERANCES.globalAvgPool, arena.read(output, channels), expected.values, expected.meanAbs);
    expectNoDamage(label, arena);
  });

  it('averages a 600x600 map near 1e3 without drift', async () => {
    const pixels = 600 * 600;
    const channels = 5;
    const seed = (baseSeed() + 600) >>> 0;
    const random = new Random(seed);
    const inputValues = Float32Array.from({ length: pixels * channels }, () => 1e3 + random.uniform(-0.01, 0.01));
    const arena = await Arena.create(build);
    const input = arena.input('input', inputValues);
    const output = arena.output('output', channels);
    arena.exports.global_avg_pool_f32(input, pixels, channels, output);
    const label: CaseLabel = { op: `global_avg_pool_f32/${build}`, params: { pixels, channels, input: '1e3 + noise' }, seed };
    // A plain f32 running sum drifts by far more than one ULP of the mean here, so
    // allow only 1 ULP and no magnitude term.
    const expected = globalAvgPoolReference(inputValues, pixels, channels);
    expectClose(label, { kind: 'ulp', ulps: 1, absFloor: 0 }, arena.read(output, channels), expected.values);
    expectNoDamage(label, arena);
  });

  it.each(SHAPES)('max pools %i pixels x %i channels', async (pixels, channels) => {
    const seed = (baseSeed() + 13 * pixels + channels) >>> 0;
    const random = new Random(seed);
    const inputValues = random.floats(pixels * channels, -5, -1);
    const arena = await Arena.create(build);
    const input = arena.input('input', inputValues);
    const output = arena.output('output', channels);
    arena.exports.global_max_pool_f32(input, pixels, channels, output);
    const label: CaseLabel = { op: `global_max_pool_f32/${build}`, params: { pixels, channels }, seed };
    expectClose(label, TOLERANCES.globalMaxPool, arena.read(output, channels), globalMaxPoolReference(inputValues, pixels, channels));
    expectNoDamage(label, arena);
  });
});
