import { describe, expect, it } from 'vitest';
import { Arena, BUILDS } from '../support/buffers.js';
import { expectClose, expectNoDamage, type CaseLabel } from '../support/check.js';
import { CHANNEL_COUNTS } from '../support/geometry.js';
import { baseSeed, Random } from '../support/prng.js';

// Requantization is specified in f32 (an fp32-requantizing runtime multiplies the
// int32 accumulator, converted to float, by an f32 multiplier), so the reference
// rounds each product to f32 and the kernels must match it exactly.
const EXACT = { kind: 'exact' } as const;

function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const fraction = x - floor;
  if (fraction > 0.5) return floor + 1;
  if (fraction < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

function clamp(x: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, x));
}

/** Returns integer accumulators as an exact f32 pipeline stores them, with some exact ties mixed in. */
function accumulators(random: Random, count: number, multiplier: number): Float32Array {
  const values = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    values[i] = random.next() < 0.1 ? (random.int(-300, 300) + 0.5) / multiplier : random.int(-40000, 40000);
  }
  return values;
}

describe.each(BUILDS)('requantize_f32 (%s build)', (build) => {
  it.each(CHANNEL_COUNTS)('per channel, %i channels', async (channels) => {
    const seed = (baseSeed() + 11 * channels) >>> 0;
    const random = new Random(seed);
    const pixels = random.int(1, 9);
    const multipliers = random.floats(channels, 0.0005, 0.02);
    const values = accumulators(random, pixels * channels, 0.01);
    const arena = await Arena.create(build);
    const data = arena.inPlace('data', values);
    const scales = arena.input('multipliers', multipliers);
    arena.exports.requantize_f32(data, pixels, channels, scales, 1, -128, 127);
    const expected = Array.from(values, (x, i) => clamp(roundHalfEven(Math.fround(x * multipliers[i % channels])), -128, 127));
    const label: CaseLabel = { op: `requantize_f32/${build}`, params: { pixels, channels, perChannel: 1 }, seed };
    expectClose(label, EXACT, arena.read(data, values.length), expected);
    expectNoDamage(label, arena);
  });

  it.each([1, 3, 4, 7, 32])('one multiplier, %i channels', async (channels) => {
    const seed = (baseSeed() + 13 * channels) >>> 0;
    const random = new Random(seed);
    const pixels = 5;
    const values = accumulators(random, pixels * channels, 0.0125);
    const arena = await Arena.create(build);
    const data = arena.inPlace('data', values);
    const scale = arena.input('multiplier', [0.0125]);
    arena.exports.requantize_f32(data, pixels, channels, scale, 0, 0, 255);
    const expected = Array.from(values, (x) => clamp(roundHalfEven(Math.fround(x * Math.fround(0.0125))), 0, 255));
    const label: CaseLabel = { op: `requantize_f32/${build}`, params: { pixels, channels, perChannel: 0 }, seed };
    expectClose(label, EXACT, arena.read(data, values.length), expected);
    expectNoDamage(label, arena);
  });

  it('rounds ties to even', async () => {
    const arena = await Arena.create(build);
    const data = arena.inPlace('data', [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.4999998, 1000]);
    const scale = arena.input('multiplier', [1]);
    arena.exports.requantize_f32(data, 8, 1, scale, 0, -128, 127);
    expect(Array.from(arena.read(data, 8))).toEqual([0, 2, 2, -0, -2, -2, 3, 127]);
  });
});

describe.each(BUILDS)('add_requantize_f32 (%s build)', (build) => {
  it.each([1, 2, 3, 4, 5, 8, 9, 17, 33, 1000])('adds %i values', async (count) => {
    const seed = (baseSeed() + 17 * count) >>> 0;
    const random = new Random(seed);
    const a = Float32Array.from({ length: count }, () => random.int(-128, 127));
    const b = Float32Array.from({ length: count }, () => random.int(-128, 127));
    const aScale = Math.fround(random.uniform(0.3, 1.5));
    const bScale = Math.fround(random.uniform(0.3, 1.5));
    const arena = await Arena.create(build);
    const aPointer = arena.input('a', a);
    const bPointer = arena.input('b', b);
    const output = arena.output('output', count);
    arena.exports.add_requantize_f32(aPointer, aScale, bPointer, bScale, output, count, -100, 120);
    const expected = Array.from(a, (x, i) =>
      clamp(roundHalfEven(Math.fround(Math.fround(x * aScale) + Math.fround(b[i] * bScale))), -100, 120),
    );
    const label: CaseLabel = { op: `add_requantize_f32/${build}`, params: { count, aScale, bScale }, seed };
    expectClose(label, EXACT, arena.read(output, count), expected);
    expectNoDamage(label, arena);
  });
});
