import { describe, it } from 'vitest';
import { Arena, BUILDS } from '../support/buffers.js';
import { expectClose, expectNoDamage, type CaseLabel } from '../support/check.js';
import { CHANNEL_COUNTS, SPATIAL_SIZES } from '../support/geometry.js';
import { baseSeed, Random } from '../support/prng.js';
import { TOLERANCES } from '../support/tolerances.js';

describe.each(BUILDS)('add_f32 (%s build)', (build) => {
  it.each([1, 2, 3, 4, 5, 8, 9, 13, 15, 16, 17, 33, 1000, 56 * 56 * 24])('adds %i floats', async (count) => {
    const seed = (baseSeed() + 3 * count) >>> 0;
    const random = new Random(seed);
    const aValues = random.floats(count, -100, 100);
    const bValues = random.floats(count, -100, 100);
    const arena = await Arena.create(build);
    const a = arena.input('a', aValues);
    const b = arena.input('b', bValues);
    const output = arena.output('output', count);
    arena.exports.add_f32(a, b, output, count);
    const label: CaseLabel = { op: `add_f32/${build}`, params: { count }, seed };
    expectClose(label, TOLERANCES.add, arena.read(output, count), Array.from(aValues, (x, i) => x + bValues[i]));
    expectNoDamage(label, arena);
  });
});

describe.each(BUILDS)('scale_channels_f32 (%s build)', (build) => {
  const shapes = CHANNEL_COUNTS.map((channels, i) => [SPATIAL_SIZES[i % SPATIAL_SIZES.length] ** 2, channels] as const);
  it.each(shapes)('scales %i pixels x %i channels', async (pixels, channels) => {
    const seed = (baseSeed() + 7 * pixels + channels) >>> 0;
    const random = new Random(seed);
    const inputValues = random.floats(pixels * channels, -5, 5);
    const scaleValues = random.floats(channels, 0, 1);
    const arena = await Arena.create(build);
    const input = arena.input('input', inputValues);
    const scale = arena.input('scale', scaleValues);
    const output = arena.output('output', pixels * channels);
    arena.exports.scale_channels_f32(input, pixels, channels, scale, output);
    const label: CaseLabel = { op: `scale_channels_f32/${build}`, params: { pixels, channels }, seed };
    expectClose(label, TOLERANCES.scaleChannels, arena.read(output, pixels * channels), Array.from(inputValues, (x, i) => x * scaleValues[i % channels]));
    expectNoDamage(label, arena);
  });
});
