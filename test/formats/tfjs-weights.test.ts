/**
 * Weight manifest decoding: every dtype and quantization the converter
 * writes, shard concatenation, weight names in each converter's form, and the
 * shard errors.
 */
import { describe, expect, it } from 'vitest';

import { TfjsFormatError } from '../../src/formats/tfjs/errors.js';
import type { KerasLayer } from '../../src/formats/tfjs/topology.js';
import { readWeights } from '../../src/formats/tfjs/weights.js';
import { encodeWeights, type TestWeight } from '../support/tfjs-import-builder.js';

const LAYER: KerasLayer = { className: 'Conv2D', name: 'conv', scope: [], config: {} };
const KERNEL = { names: ['kernel'], index: 0 };

function reader(files: Record<string, Uint8Array>) {
  return async (path: string) => {
    const bytes = files[path];
    if (!bytes) throw new Error(`Weight shard file not found: /models/${path}. Check the path.`);
    return bytes;
  };
}

async function roundTrip(weight: TestWeight, name = 'conv/kernel') {
  const { manifest, files } = encodeWeights([weight], 1, () => name);
  const store = await readWeights(manifest, reader(files), 'model.json');
  return { store, manifest };
}

describe('tfjs weights: dtypes', () => {
  const values = Float32Array.from({ length: 24 }, (_, i) => (i - 11) / 8);

  it('float32 and :0 suffix', async () => {
    const { store } = await roundTrip({ name: '', shape: [2, 3, 4], values }, 'conv/kernel:0');
    expect(Array.from(store.read(LAYER, KERNEL, [2, 3, 4]))).toEqual(Array.from(values));
  });

  it('float16 dtype', async () => {
    const { store } = await roundTrip({ name: '', shape: [24], values, dtype: 'float16' });
    expect(Array.from(store.read(LAYER, KERNEL, [24]))).toEqual(Array.from(values));
  });

  it('int32 dtype', async () => {
    const integers = Float32Array.from({ length: 6 }, (_, i) => i * 1000 - 2500);
    const { store } = await roundTrip({ name: '', shape: [6], values: integers, dtype: 'int32' });
    expect(Array.from(store.read(LAYER, KERNEL, [6]))).toEqual(Array.from(integers));
  });

  for (const dtype of ['uint8', 'uint16'] as const) {
    it(`${dtype} quantization`, async () => {
      const { store, manifest } = await roundTrip({ name: '', shape: [24], values, quantization: dtype });
      const { min, scale } = (manifest[0].weights as Array<{ quantization: { min: number; scale: number } }>)[0].quantization;
      const decoded = store.read(LAYER, KERNEL, [24]);
      for (let i = 0; i < values.length; i++) {
        const q = Math.round((values[i] - min) / scale);
        expect(decoded[i], `value ${i}`).toBe(Math.fround(q * scale + min));
        expect(Math.abs(decoded[i] - values[i]), `value ${i} error`).toBeLessThanOrEqual(scale / 2 + 1e-7);
      }
    });
  }

  it('float16 quantization', async () => {
    const { store } = await roundTrip({ name: '', shape: [24], values, quantization: 'float16' });
    expect(Array.from(store.read(LAYER, KERNEL, [24]))).toEqual(Array.from(values));
  });

  it('shards concatenate in order', async () => {
    const weights: TestWeight[] = [
      { name: 'conv/kernel', shape: [24], values },
      { name: 'conv/bias', shape: [3], values: Float32Array.of(1, 2, 3), dtype: 'float16' },
      { name: 'other/kernel', shape: [5], values: Float32Array.of(5, 4, 3, 2, 1) },
    ];
    const { manifest, files } = encodeWeights(weights, 4);
    expect(Object.keys(files)).toHaveLength(4);
    const store = await readWeights(manifest, reader(files), 'model.json');
    expect(Array.from(store.read(LAYER, KERNEL, [24]))).toEqual(Array.from(values));
    expect(Array.from(store.read(LAYER, { names: ['bias'], index: 1 }, [3]))).toEqual([1, 2, 3]);
  });
});

describe('tfjs weights: names', () => {
  const values = Float32Array.of(1, 2);

  it('nested model prefix', async () => {
    const nested: KerasLayer = { ...LAYER, scope: ['outer', 'efficientnetb0'] };
    const { manifest, files } = encodeWeights(
      [
        { name: 'other_model/conv/kernel', shape: [2], values: Float32Array.of(9, 9) },
        { name: 'efficientnetb0/conv/kernel', shape: [2], values },
      ],
      1,
    );
    const store = await readWeights(manifest, reader(files), 'model.json');
    expect(Array.from(store.read(nested, KERNEL, [2]))).toEqual([1, 2]);
  });

  it('Keras 3 variable paths', async () => {
    const { store } = await roundTrip({ name: '', shape: [2], values }, 'layers/functional/layers/conv/vars/0');
    expect(Array.from(store.read({ ...LAYER, scope: ['functional'] }, KERNEL, [2]))).toEqual([1, 2]);
  });

  it('ambiguous names', async () => {
    const { manifest, files } = encodeWeights(
      [
        { name: 'a/conv/kernel', shape: [2], values },
        { name: 'b/conv/kernel', shape: [2], values },
      ],
      1,
    );
    const store = await readWeights(manifest, reader(files), 'model.json');
    expect(() => store.read(LAYER, KERNEL, [2])).toThrow(/Ambiguous weights in model\.json: layer 'conv' \(Conv2D\) matches 2 weights/);
  });
});

describe('tfjs weights: errors', () => {
  const weights: TestWeight[] = [{ name: 'conv/kernel', shape: [64], values: new Float32Array(64) }];

  it('missing shard names the path tried', async () => {
    const { manifest } = encodeWeights(weights);
    await expect(readWeights(manifest, reader({}), 'model.json')).rejects.toThrow(
      "Failed to load weight shard 'group1-shard1of1.bin' of model.json: Weight shard file not found: /models/group1-shard1of1.bin.",
    );
  });

  it('truncated single shard', async () => {
    const { manifest, files } = encodeWeights(weights);
    files['group1-shard1of1.bin'] = files['group1-shard1of1.bin'].subarray(0, 200);
    const error = await readWeights(manifest, reader(files), 'model.json').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TfjsFormatError);
    expect((error as Error).message).toBe(
      "Invalid weight shard 'group1-shard1of1.bin' of model.json: the weights of weightsManifest[0] need 256 bytes, " +
        "but its shards hold 200 ('group1-shard1of1.bin' 200 bytes). The shard is truncated; download or export model.json and its shards again.",
    );
  });

  it('first shard of several too long', async () => {
    const { manifest, files } = encodeWeights(weights, 2);
    files['group1-shard1of2.bin'] = new Uint8Array(130);
    await expect(readWeights(manifest, reader(files), 'model.json')).rejects.toThrow(
      /Invalid weight shard 'group1-shard2of2\.bin' .*need 256 bytes, but its shards hold 258/,
    );
  });

  it('unknown dtype', async () => {
    const manifest = [{ paths: ['a.bin'], weights: [{ name: 'conv/kernel', shape: [2], dtype: 'float64' }] }];
    await expect(readWeights(manifest, reader({ 'a.bin': new Uint8Array(16) }), 'model.json')).rejects.toThrow(
      /dtype of weight 'conv\/kernel' of weightsManifest\[0\] must be float32, float16, int32, bool, complex64 or string, but got "float64"/,
    );
  });

  it('invalid quantization', async () => {
    const manifest = [{ paths: ['a.bin'], weights: [{ name: 'conv/kernel', shape: [2], dtype: 'float32', quantization: { dtype: 'uint8' } }] }];
    await expect(readWeights(manifest, reader({ 'a.bin': new Uint8Array(2) }), 'model.json')).rejects.toThrow(
      /quantization of weight 'conv\/kernel' of weightsManifest\[0\] must be finite numbers min and scale for uint8/,
    );
  });
});
