import { describe, it } from 'vitest';
import { ACTIVATION_CODES, type Activation, type Padding } from '../../src/graph/spec.js';
import { ACTIVATIONS } from '../reference/activation.js';
import { dwconvReference, type ConvGeometry } from '../reference/conv.js';
import { Arena, BUILDS } from '../support/buffers.js';
import { expectClose, expectNoDamage, type CaseLabel } from '../support/check.js';
import {
  CHANNEL_COUNTS, drawPadding, PADDING_KINDS, paddingText, resolveGeometry, SPATIAL_SIZES,
} from '../support/geometry.js';
import { baseSeed, Random } from '../support/prng.js';
import { TOLERANCES } from '../support/tolerances.js';

interface DwconvCase {
  name: string;
  seed: number;
  channels: number;
  geometry: ConvGeometry;
  padding: Padding;
  hasBias: boolean;
  activation: Activation;
}

/**
 * The sweep: every kernel size x stride x padding kind (3x3 and 5x5 take the
 * unrolled path, 2, 4 and 7 the generic one), each channel count at 3x3 and 5x5,
 * and EfficientNet-B0 depthwise layers. Shapes that do not fit are redrawn.
 */
function buildCases(): DwconvCase[] {
  const cases: DwconvCase[] = [];
  const seed0 = baseSeed();
  let index = 0;
  const add = (draw: (random: Random) => Omit<DwconvCase, 'name' | 'seed'> | null): void => {
    for (let attempt = 0; attempt < 50; attempt++) {
      const seed = (seed0 + 7919 * index++) >>> 0;
      const drawn = draw(new Random(seed));
      if (!drawn) continue;
      const g = drawn.geometry;
      const name =
        `${g.kernel}x${g.kernel} s${g.stride} ${paddingText(drawn.padding)} ${g.inH}x${g.inW}x${drawn.channels} ` +
        `${drawn.activation}${drawn.hasBias ? ' bias' : ''}`;
      cases.push({ ...drawn, name, seed });
      return;
    }
    throw new Error('The dwconv sweep found no shape that fits after 50 draws; widen SPATIAL_SIZES.');
  };
  const drawCase = (random: Random, kernel: number, stride: number, kind: typeof PADDING_KINDS[number], channels: number, size?: [number, number]) => {
    const inH = size ? size[0] : random.pick(SPATIAL_SIZES);
    const inW = size ? size[1] : random.pick(SPATIAL_SIZES);
    const padding = drawPadding(kind, kernel, random);
    const geometry = resolveGeometry(inH, inW, kernel, stride, padding);
    if (!geometry) return null;
    return { channels, geometry, padding, hasBias: random.next() < 0.7, activation: random.pick(ACTIVATIONS) };
  };

  for (const kernel of [3, 5, 2, 4, 7]) {
    for (const stride of [1, 2]) {
      for (const kind of PADDING_KINDS) {
        add((random) => drawCase(random, kernel, stride, kind, random.pick(CHANNEL_COUNTS)));
      }
    }
  }
  for (const kernel of [3, 5]) {
    for (const channels of CHANNEL_COUNTS) {
      add((random) => drawCase(random, kernel, random.int(1, 2), random.pick(PADDING_KINDS), channels));
    }
  }
  for (const activation of ACTIVATIONS) {
    add((random) => {
      const drawn = drawCase(random, random.pick([3, 5]), random.int(1, 2), 'same', random.pick(CHANNEL_COUNTS));
      return drawn && { ...drawn, activation, hasBias: true };
    });
  }
  // EfficientNet-B0 depthwise layers: [inH, inW, channels, kernel, stride].
  const b0Layers: [number, number, number, number, number][] = [
    [112, 112, 32, 3, 1],
    [112, 112, 96, 3, 2],
    [56, 56, 144, 5, 2],
    [28, 28, 240, 3, 2],
    [14, 14, 672, 5, 1],
    [7, 7, 1152, 3, 1],
  ];
  for (const [inH, inW, channels, kernel, stride] of b0Layers) {
    add((random) => {
      const drawn = drawCase(random, kernel, stride, 'same', channels, [inH, inW]);
      return drawn && { ...drawn, activation: 'swish', hasBias: true };
    });
  }
  return cases;
}

const CASES = buildCases();

describe.each(BUILDS)('dwconv2d_f32 (%s build)', (build) => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, testCase) => {
    const { channels, geometry, hasBias, activation, seed } = testCase;
    const { inH, inW, outH, outW, kernel, stride, padTop, padLeft } = geometry;
    const random = new Random(seed);
    const inputValues = random.floats(inH * inW * channels, -2, 2);
    const weightValues = random.floats(kernel * kernel * channels, -1, 1);
    const biasValues = hasBias ? random.floats(channels, -1, 1) : null;
    const label: CaseLabel = {
      op: `dwconv2d_f32/${build}`,
      params: { inH, inW, channels, kernel, stride, padding: paddingText(testCase.padding), padTop, padLeft, outH, outW, bias: hasBias, activation },
      seed,
    };

    const arena = await Arena.create(build);
    const input = arena.input('input', inputValues);
    const weight = arena.input('weight', weightValues);
    const bias = biasValues ? arena.input('bias', biasValues) : 0;
    const output = arena.output('output', outH * outW * channels);
    arena.exports.dwconv2d_f32(
      input, inH, inW, channels, weight, bias, output, outH, outW,
      kernel, stride, padTop, padLeft, ACTIVATION_CODES[activation],
    );

    const expected = dwconvReference(inputValues, channels, weightValues, biasValues, geometry, activation);
    expectClose(label, TOLERANCES.dwconv2d, arena.read(output, outH * outW * channels), expected.values, expected.magnitude);
    expectNoDamage(label, arena);
  });
});
