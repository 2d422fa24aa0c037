import { describe, expect, test } from 'vitest';
import {
  COMPOUND_SCALING,
  EFFICIENTNET_VARIANTS,
  efficientNetArchitecture,
  roundChannels,
  roundRepeats,
  type Architecture,
} from '../../src/graph/configs.js';

/**
 * Counts weights, biases and the vectors of each BatchNorm: 4 per channel as Keras's summary
 * counts them, or 1 per channel (the bias left after folding) with bnPerChannel = 1.
 */
function countParameters(architecture: Architecture, bnPerChannel = 4): number {
  const stem = architecture.stemChannels;
  let total = 3 * 3 * 3 * stem + bnPerChannel * stem;
  for (const block of architecture.blocks) {
    const mid = block.inChannels * block.expandRatio;
    if (block.expandRatio !== 1) total += block.inChannels * mid + bnPerChannel * mid;
    total += block.kernel * block.kernel * mid + bnPerChannel * mid;
    if (block.seChannels) total += mid * block.seChannels + block.seChannels + block.seChannels * mid + mid;
    total += mid * block.outChannels + bnPerChannel * block.outChannels;
  }
  const last = architecture.blocks[architecture.blocks.length - 1].outChannels;
  total += last * architecture.headChannels + bnPerChannel * architecture.headChannels;
  total += architecture.headChannels * architecture.numClasses + architecture.numClasses;
  return total;
}

// Total parameters that Keras's tf.keras.applications.EfficientNetB0..B7 (1000 classes) report in
// model.summary(); they include 7 of the input Normalization layer (mean, variance, count), which we do not build.
const KERAS_TOTALS: Record<string, number> = {
  b0: 5_330_571,
  b1: 7_856_239,
  b2: 9_177_569,
  b3: 12_320_535,
  b4: 19_466_823,
  b5: 30_562_527,
  b6: 43_265_143,
  b7: 66_658_687,
};
const KERAS_NORMALIZATION_PARAMETERS = 7;

describe('compound scaling', () => {
  test('channel rounding keeps 90 % of the scaled value', () => {
    expect(roundChannels(32, 1.0)).toBe(32);
    expect(roundChannels(32, 1.1)).toBe(32);
    expect(roundChannels(32, 1.2)).toBe(40);
    expect(roundChannels(16, 1.1)).toBe(16);
    expect(roundChannels(24, 1.4)).toBe(32);
    expect(roundChannels(1280, 1.8)).toBe(2304);
    // 4 * 1.1 = 4.4 rounds to 8 (the divisor is the minimum).
    expect(roundChannels(4, 1.1)).toBe(8);
    for (let channels = 8; channels <= 1280; channels += 8) {
      for (const width of [0.5, 0.75, 1.0, 1.1, 1.2, 1.4, 1.6, 1.8, 2.0]) {
        const rounded = roundChannels(channels, width);
        expect(rounded % 8, `roundChannels(${channels}, ${width})`).toBe(0);
        expect(rounded, `roundChannels(${channels}, ${width})`).toBeGreaterThanOrEqual(0.9 * channels * width);
      }
    }
  });

  test('repeats round up', () => {
    expect(roundRepeats(1, 1.1)).toBe(2);
    expect(roundRepeats(2, 1.0)).toBe(2);
    expect(roundRepeats(3, 3.1)).toBe(10);
  });

  test('resolutions follow the published table', () => {
    expect([224, 240, 260, 300, 380, 456, 528, 600]).toEqual(
      ['b0', 'b1', 'b2', 'b3', 'b4', 'b5', 'b6', 'b7'].map((v) => COMPOUND_SCALING[v as 'b0'].resolution),
    );
  });

  test.each(Object.entries(KERAS_TOTALS))('%s parameter count matches Keras', (variant, total) => {
    const architecture = efficientNetArchitecture(variant as 'b0');
    expect(countParameters(architecture)).toBe(total - KERAS_NORMALIZATION_PARAMETERS);
  });

  test('b0 blocks match the baseline network', () => {
    const b0 = efficientNetArchitecture('b0');
    expect(b0.blocks.length).toBe(16);
    expect(b0.blocks.map((b) => b.outChannels)).toEqual([16, 24, 24, 40, 40, 80, 80, 80, 112, 112, 112, 192, 192, 192, 192, 320]);
    expect(b0.blocks.map((b) => b.stride)).toEqual([1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1]);
    expect(b0.blocks.map((b) => b.kernel)).toEqual([3, 3, 3, 5, 5, 3, 3, 3, 5, 5, 5, 5, 5, 5, 5, 3]);
    expect(b0.blocks[0].seChannels).toBe(8);
    expect(b0.blocks[1].seChannels).toBe(4);
    expect(b0.blocks.filter((b) => b.residual).length).toBe(9);
    expect(b0.activation).toBe('swish');
  });
});

describe('EfficientNet-Lite', () => {
  test('lite variants use ReLU6 and no squeeze-excite', () => {
    for (const variant of ['lite0', 'lite1', 'lite2', 'lite3', 'lite4'] as const) {
      const architecture = efficientNetArchitecture(variant);
      expect(architecture.activation).toBe('relu6');
      expect(architecture.blocks.every((b) => b.seChannels === 0 && b.activation === 'relu6')).toBe(true);
    }
  });

  test('lite keeps stem, head and end stages fixed', () => {
    for (const variant of ['lite0', 'lite1', 'lite2', 'lite3', 'lite4'] as const) {
      const architecture = efficientNetArchitecture(variant);
      expect(architecture.stemChannels, variant).toBe(32);
      expect(architecture.headChannels, variant).toBe(1280);
      expect(architecture.blocks[0].inChannels, variant).toBe(32);
      // The first and last stages keep one block each at every depth.
      expect(architecture.blocks[1].stride, variant).toBe(2);
      expect(architecture.blocks[architecture.blocks.length - 2].outChannels, variant).not.toBe(
        architecture.blocks[architecture.blocks.length - 1].outChannels,
      );
    }
    expect(efficientNetArchitecture('lite4').blocks.length).toBe(30);
    expect(efficientNetArchitecture('lite0').blocks.length).toBe(16);
  });

  test('lite parameter counts match the published sizes', () => {
    // Published sizes in millions, rounded: 4.7, 5.4, 6.1, 8.2, 13.0. Scaling the fixed stages
    // as well would add about 1.2M parameters to lite4, far outside this tolerance.
    const published = { lite0: 4.7, lite1: 5.4, lite2: 6.1, lite3: 8.2, lite4: 13.0 };
    for (const [variant, millions] of Object.entries(published)) {
      const count = countParameters(efficientNetArchitecture(variant as 'lite0')) / 1e6;
      expect(Math.abs(count - millions), `${variant}: ${count.toFixed(2)}M`).toBeLessThan(0.15);
    }
  });
});

describe('architecture options', () => {
  test('numClasses 0 means no classifier', () => {
    expect(efficientNetArchitecture('b0', { numClasses: 0 }).numClasses).toBe(0);
  });

  test('unknown variant is rejected', () => {
    expect(() => efficientNetArchitecture('b9' as 'b0')).toThrow(/Unknown EfficientNet variant "b9": expected one of b0, b1/);
  });

  test('invalid class count is rejected', () => {
    expect(() => efficientNetArchitecture('b0', { numClasses: -1 })).toThrow(/Invalid numClasses/);
  });

  test('every variant builds', () => {
    for (const variant of EFFICIENTNET_VARIANTS) {
      const architecture = efficientNetArchitecture(variant);
      let channels = architecture.stemChannels;
      for (const block of architecture.blocks) {
        expect(block.inChannels).toBe(channels);
        channels = block.outChannels;
      }
    }
  });
});
