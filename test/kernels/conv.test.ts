import { describe, it } from 'vitest';
import { ACTIVATION_CODES, type Activation, type Padding } from '../../src/graph/spec.js';
import { ACTIVATIONS } from '../reference/activation.js';
import { conv2dReference, type ConvGeometry } from '../reference/conv.js';
import { Arena, BUILDS } from '../support/buffers.js';
import { expectClose, expectNoDamage, type CaseLabel } from '../support/check.js';
import {
  CHANNEL_COUNTS, drawPadding, PADDING_KINDS, paddingText, resolveGeometry, SPATIAL_SIZES,
} from '../support/geometry.js';
import { baseSeed, Random } from '../support/prng.js';
import { TOLERANCES } from '../support/tolerances.js';

interface ConvCase {
  name: string;
  seed: number;
  inC: number;
  outC: number;
  geometry: ConvGeometry;
  padding: Padding;
  hasBias: boolean;
  activation: Activation;
}

/**
 * The sweep: kernel sizes 1, 3 and 5 at strides 1 and 2 with every padding kind,
 * each output channel count (the vectorized axis), a few input channel counts,
 * and the EfficientNet stem (224x224x3, 3x3, stride 2, 32 outputs).
 */
function buildCases(): ConvCase[] {
  const cases: ConvCase[] = [];
  const seed0 = baseSeed() ^ 0x3c6ef372;
  let index = 0;
  const add = (draw: (random: Random) => Omit<ConvCase, 'name' | 'seed'> | null): void => {
    for (let attempt = 0; attempt < 50; attempt++) {
      const seed = (seed0 + 7919 * index++) >>> 0;
      const drawn = draw(new Random(seed));
      if (!drawn) continue;
      const g = drawn.geometry;
      const name =
        `${g.kernel}x${g.kernel} s${g.stride} ${paddingText(drawn.padding)} ${g.inH}x${g.inW}x${drawn.inC}->${drawn.outC} ` +
        `${drawn.activation}${drawn.hasBias ? ' bias' : ''}`;
      cases.push({ ...drawn, name, seed });
      return;
    }
    throw new Error('The conv sweep found no shape that fits after 50 draws; widen SPATIAL_SIZES.');
  };
  const drawCase = (random: Random, kernel: number, stride: number, kind: typeof PADDING_KINDS[number], outC: number, inC: number, size?: [number, number]) => {
    const inH = size ? size[0] : random.pick(SPATIAL_SIZES);
    const inW = size ? size[1] : random.pick(SPATIAL_SIZES);
    const padding = drawPadding(kind, kernel, random);
    const geometry = resolveGeometry(inH, inW, kernel, stride, padding);
    if (!geometry) return null;
    return { inC, outC, geometry, padding, hasBias: random.next() < 0.7, activation: random.pick(ACTIVATIONS) };
  };

  for (const kernel of [1, 3, 5]) {
    for (const stride of [1, 2]) {
      for (const kind of PADDING_KINDS) {
        add((random) => drawCase(random, kernel, stride, kind, random.pick(CHANNEL_COUNTS), random.pick([1, 3, 4, 5])));
      }
    }
  }
  for (const outC of CHANNEL_COUNTS) {
    add((random) => drawCase(random, 3, random.int(1, 2), random.pick(PADDING_KINDS), outC, random.pick([1, 2, 3, 8])));
  }
  for (const activation of ACTIVATIONS) {
    add((random) => {
      const drawn = drawCase(random, 3, 2, 'same', random.pick(CHANNEL_COUNTS), 3);
      return drawn && { ...drawn, activation, hasBias: true };
    });
  }
  add((random) => {
    const drawn = drawCase(random, 3, 2, 'same', 32, 3, [224, 224]);
    return drawn && { ...drawn, activation: 'swish', hasBias: true };
  });
  return cases;
}

const CASES = buildCases();

describe.each(BUILDS)('conv2d_f32 (%s build)', (build) => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, testCase) => {
    const { inC, outC, geometry, hasBias, activation, seed } = testCase;
    const { inH, inW, outH, outW, kernel, stride, padTop, padLeft } = geometry;
    const random = new Random(seed);
    const inputValues = random.floats(inH * inW * inC, -2, 2);
    const weightValues = random.floats(kernel * kernel * inC * outC, -1, 1);
    const biasValues = hasBias ? random.floats(outC, -1, 1) : null;
    const label: CaseLabel = {
      op: `conv2d_f32/${build}`,
      params: { inH, inW, inC, outC, kernel, stride, padding: paddingText(testCase.padding), padTop, padLeft, outH, outW, bias: hasBias, activation },
      seed,
    };

    const arena = await Arena.create(build);
    const input = arena.input('input', inputValues);
    const weight = arena.input('weight', weightValues);
    const bias = biasValues ? arena.input('bias', biasValues) : 0;
    const output = arena.output('output', outH * outW * outC);
    arena.exports.conv2d_f32(
      input, inH, inW, inC, weight, bias, output, outH, outW, outC,
      kernel, stride, padTop, padLeft, ACTIVATION_CODES[activation],
    );

    const expected = conv2dReference(inputValues, inC, weightValues, biasValues, outC, geometry, activation);
    expectClose(label, TOLERANCES.conv2d, arena.read(output, outH * outW * outC), expected.values, expected.magnitude);
    expectNoDamage(label, arena);
  });
});
