// Hand-checked cases whose expected values are known exactly.
import { assert, describe, expect, it } from 'vitest';
import { foldBatchNorm, scaleOutputChannels } from '../../src/graph/batchnorm.js';
import { resolveAxis } from '../../src/graph/padding.js';
import { ACTIVATION_CODES } from '../../src/graph/spec.js';
import { dwconvReference } from '../reference/conv.js';
import { Arena, BUILDS } from '../support/buffers.js';
import { expectClose, expectNoDamage, type CaseLabel } from '../support/check.js';
import { resolveGeometry } from '../support/geometry.js';
import { TOLERANCES } from '../support/tolerances.js';

describe('resolveAxis', () => {
  it('pads SAME 5x5 stride 2 on 14 as 1 before and 2 after', () => {
    const axis = resolveAxis(14, 5, 2, 'same', 'width');
    expect(axis.outSize).toBe(7);
    expect(axis.padBefore).toBe(1);
    expect(axis.padAfter).toBe(2);
  });
});

describe('foldBatchNorm', () => {
  it('folds a layer bias into scale and bias', () => {
    const folded = foldBatchNorm(
      {
        gamma: Float32Array.of(2, 3),
        beta: Float32Array.of(0.5, 0),
        mean: Float32Array.of(0.1, 0.2),
        variance: Float32Array.of(1, 4),
        epsilon: 0,
      },
      Float32Array.of(1, 2),
      'test layer',
    );
    // scale = gamma / sqrt(variance); bias = scale * (b - mean) + beta.
    expect(Array.from(folded.scale)).toEqual([2, 1.5]);
    expect(folded.bias[0]).toBeCloseTo(2.3, 6);
    expect(folded.bias[1]).toBeCloseTo(2.7, 6);
  });
});

describe.each(BUILDS)('exact kernel cases (%s build)', (build) => {
  it.each([1, 5])('TF SAME stride 2 on ones puts padding after (%i channels)', async (channels) => {
    const geometry = resolveGeometry(4, 4, 3, 2, 'same');
    assert.isNotNull(geometry);
    const { outH, outW, padTop, padLeft } = geometry!;
    expect([outH, outW, padTop, padLeft]).toEqual([2, 2, 0, 0]);

    const arena = await Arena.create(build);
    const input = arena.input('input', new Float32Array(16 * channels).fill(1));
    const weight = arena.input('weight', new Float32Array(9 * channels).fill(1));
    const output = arena.output('output', 4 * channels);
    arena.exports.dwconv2d_f32(input, 4, 4, channels, weight, 0, output, 2, 2, 3, 2, padTop, padLeft, ACTIVATION_CODES.linear);

    // Symmetric padding would give [[4, 6], [6, 9]].
    const expected = [9, 6, 6, 4].flatMap((value) => new Array<number>(channels).fill(value));
    const label: CaseLabel = { op: `dwconv2d_f32/${build}`, params: { case: 'TF SAME ones', channels }, seed: 0 };
    expectClose(label, { kind: 'exact' }, arena.read(output, 4 * channels), expected);
    expectNoDamage(label, arena);
  });

  it('BatchNorm folded into dwconv matches conv then BN', async () => {
    const channels = 2;
    const bn = {
      gamma: Float32Array.of(2, 3),
      beta: Float32Array.of(0.5, 0),
      mean: Float32Array.of(0.1, 0.2),
      variance: Float32Array.of(1, 4),
      epsilon: 0,
    };
    const bias = Float32Array.of(1, 2);
    const folded = foldBatchNorm(bn, bias, 'test layer');
    const weight = Float32Array.from({ length: 9 * channels }, (_, i) => ((i * 7) % 11) / 10 - 0.5);
    const foldedWeight = scaleOutputChannels(weight, folded.scale);
    const input = Float32Array.from({ length: 5 * 5 * channels }, (_, i) => ((i * 13) % 17) / 8 - 1);
    const geometry = resolveGeometry(5, 5, 3, 1, 'same')!;

    // Unfused: the convolution with its own bias, then BatchNorm, in f64.
    const conv = dwconvReference(input, channels, weight, bias, geometry, 'linear');
    const expected = conv.values.map((y, i) => {
      const c = i % channels;
      return (bn.gamma[c] * (y - bn.mean[c])) / Math.sqrt(bn.variance[c] + bn.epsilon) + bn.beta[c];
    });
    const magnitude = conv.magnitude.map((size, i) => size * folded.scale[i % channels] + Math.abs(folded.bias[i % channels]));

    const arena = await Arena.create(build);
    const inputPointer = arena.input('input', input);
    const weightPointer = arena.input('weight', foldedWeight);
    const biasPointer = arena.input('bias', folded.bias);
    const count = geometry.outH * geometry.outW * channels;
    const output = arena.output('output', count);
    arena.exports.dwconv2d_f32(
      inputPointer, 5, 5, channels, weightPointer, biasPointer, output, geometry.outH, geometry.outW,
      3, 1, geometry.padTop, geometry.padLeft, ACTIVATION_CODES.linear,
    );
    const label: CaseLabel = { op: `dwconv2d_f32/${build}`, params: { case: 'folded BatchNorm' }, seed: 0 };
    expectClose(label, TOLERANCES.dwconv2d, arena.read(output, count), expected, magnitude);
    expectNoDamage(label, arena);
  });
});
