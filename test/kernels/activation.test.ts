import { assert, describe, expect, it } from 'vitest';
import { ACTIVATION_CODES } from '../../src/graph/spec.js';
import { activate, ACTIVATIONS } from '../reference/activation.js';
import { Arena, BUILDS } from '../support/buffers.js';
import { describeCase, expectClose, expectNoDamage, type CaseLabel } from '../support/check.js';
import { baseSeed, Random } from '../support/prng.js';
import { TOLERANCES } from '../support/tolerances.js';

/** Inputs where activations saturate, underflow or change branch. */
const SPECIAL_VALUES = [
  1e4, -1e4, 88, -88, 100, -100, 87.33, -87.33, 87.34, -87.34, 104, -104, 0, -0,
  1e-30, -1e-30, 1.4e-45, -1.4e-45, 1.17549435e-38, -1.17549435e-38, 1e-7, -1e-7,
  3, -3, 6, -6, 2.9999998, -2.9999998, 0.5, -0.5, 20, -20, 16.6, -16.6, 9.5, -9.5,
];

/** Element counts below, at and above the 4 and 8 lanes of the SIMD loops. */
const COUNTS = [1, 2, 3, 4, 5, 8, 9, 13, 33, 1000];

async function runActivation(build: 'simd' | 'scalar', values: Float32Array, code: number): Promise<{ arena: Arena; result: Float32Array }> {
  const arena = await Arena.create(build);
  const data = arena.inPlace('data', values);
  arena.exports.activation_f32(data, values.length, code);
  return { arena, result: arena.read(data, values.length) };
}

describe.each(BUILDS)('activation_f32 (%s build)', (build) => {
  describe.each(ACTIVATIONS)('%s', (activation) => {
    it('matches the f64 reference on special values', async () => {
      const values = Float32Array.from(SPECIAL_VALUES);
      const { arena, result } = await runActivation(build, values, ACTIVATION_CODES[activation]);
      const label: CaseLabel = { op: `activation_f32/${build}`, params: { activation, input: 'special values' }, seed: 0 };
      const expected = Array.from(values, (x) => activate(x, activation));
      expectClose(label, TOLERANCES[activation], result, expected);
      expectNoDamage(label, arena);
    });

    it.each(COUNTS)('matches the f64 reference on %i random values', async (count) => {
      const seed = (baseSeed() + count * 31 + ACTIVATION_CODES[activation]) >>> 0;
      const random = new Random(seed);
      // Mix of scales: most values in the curved region, some far out in the tails.
      const values = new Float32Array(count);
      for (let i = 0; i < count; i++) {
        const range = random.pick([8, 8, 30, 120, 1e4]);
        values[i] = random.uniform(-range, range);
      }
      const { arena, result } = await runActivation(build, values, ACTIVATION_CODES[activation]);
      const label: CaseLabel = { op: `activation_f32/${build}`, params: { activation, count }, seed };
      expectClose(label, TOLERANCES[activation], result, Array.from(values, (x) => activate(x, activation)));
      expectNoDamage(label, arena);
    });
  });

  it('saturates sigmoid and swish at ±1e4', async () => {
    const values = Float32Array.of(-1e4, 1e4, -1e4, 1e4);
    const sigmoid = (await runActivation(build, values, ACTIVATION_CODES.sigmoid)).result;
    const swish = (await runActivation(build, values, ACTIVATION_CODES.swish)).result;
    const label = describeCase({ op: `activation_f32/${build}`, params: { input: '±1e4' }, seed: 0 });
    expect(Array.from(sigmoid), `${label}: sigmoid`).toEqual([0, 1, 0, 1]);
    // swish(-1e4) may be -0 or +0; both compare equal to 0.
    assert.isTrue(swish[0] === 0, `${label}: swish(-1e4) is ${swish[0]}, expected 0`);
    assert.strictEqual(swish[1], 1e4, `${label}: swish(1e4)`);
  });
});
