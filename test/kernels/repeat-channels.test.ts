import { describe, it } from 'vitest';
import { Arena, BUILDS } from '../support/buffers.js';
import { expectClose, expectNoDamage, type CaseLabel } from '../support/check.js';
import { baseSeed, Random } from '../support/prng.js';

describe.each(BUILDS)('repeat_channels_f32 (%s build)', (build) => {
  const shapes = [
    [1, 1, 2],
    [3, 5, 1],
    [7, 4, 3],
    [13, 9, 2],
    [49, 16, 4],
  ] as const;
  it.each(shapes)('%i pixels x %i channels, %i repeats', async (pixels, channels, repeats) => {
    const seed = (baseSeed() + 19 * pixels + 7 * channels + repeats) >>> 0;
    const values = new Random(seed).floats(pixels * channels, -3, 3);
    const arena = await Arena.create(build);
    const input = arena.input('input', values);
    const output = arena.output('output', pixels * channels * repeats);
    arena.exports.repeat_channels_f32(input, pixels, channels, repeats, output);
    const expected = Array.from({ length: pixels * channels * repeats }, (_, i) => values[Math.floor(i / repeats)]);
    const label: CaseLabel = { op: `repeat_channels_f32/${build}`, params: { pixels, channels, repeats }, seed };
    expectClose(label, { kind: 'exact' }, arena.read(output, expected.length), expected);
    expectNoDamage(label, arena);
  });
});
