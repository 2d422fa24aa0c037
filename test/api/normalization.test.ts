/**
 * The normalization option of loadModel and the warning for models whose file
 * does not state how their input is normalized, on tiny TF.js models built in
 * memory: one with a Rescaling layer (normalization stated) and one without.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterEach, describe, expect, it, vi } from 'vitest';

import { readModelDescription, loadModel } from '../../src/model.js';
import { importModelFile, serializeModel } from '../../src/formats/safetensors/index.js';
import { Random } from '../support/prng.js';
import { allWeights, denseHead, encodeWeights, keras2Model, modelJson, tinyEfficientNet } from '../support/tfjs-import-builder.js';

const SIZE = 9;

afterEach(() => {
  vi.restoreAllMocks();
});

function tinyModel(rescaling: boolean) {
  const layers = [...tinyEfficientNet(11, { rescaling }), ...denseHead(12, 16, 5)];
  const { manifest, files } = encodeWeights(allWeights(layers));
  return { modelJson: modelJson(keras2Model('tiny', layers), manifest), weights: files };
}

function pixelImage(seed: number) {
  const random = new Random(seed);
  const data = Uint8Array.from({ length: SIZE * SIZE * 3 }, () => random.int(0, 255));
  return { data, width: SIZE, height: SIZE, channels: 3 as const };
}

describe('normalization option', () => {
  it('model without preprocessing layers is marked assumed', async () => {
    const description = await readModelDescription(tinyModel(false));
    expect(description.normalizationAssumed).toBe(true);
    const model = await loadModel(tinyModel(false));
    expect(model.info.normalizationAssumed).toBe(true);
    model.dispose();
  });

  it('model with a Rescaling layer is not marked', async () => {
    const model = await loadModel(tinyModel(true));
    expect(model.info.normalizationAssumed).toBe(false);
    model.dispose();
  });

  it('classify warns once about an assumed normalization', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const model = await loadModel(tinyModel(false));
    await model.classify(pixelImage(1));
    await model.classify(pixelImage(2));
    const messages = warn.mock.calls.map((call) => String(call[0])).filter((text) => text.includes('does not state how its input is normalized'));
    expect(messages).toHaveLength(1);
    expect(messages[0]).toContain('loadModel(source, { normalization: { mean, std } })');
    model.dispose();
  });

  it('classify applies the given normalization', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const normalization = { mean: [127.5, 120, 110] as [number, number, number], std: [127.5, 60, 70] as [number, number, number] };
    const model = await loadModel(tinyModel(false), { normalization });
    expect(model.info.normalization).toEqual(normalization);
    expect(model.info.normalizationAssumed).toBe(false);

    const image = pixelImage(3);
    const { predictions } = await model.classify(image, { topK: 5 });
    const input = Float32Array.from(image.data, (value, i) => (value - normalization.mean[i % 3]) / normalization.std[i % 3]);
    const expected = model.predict(input);
    for (const prediction of predictions) {
      expect(prediction.score, `score of class ${prediction.index}`).toBeCloseTo(expected[prediction.index], 6);
    }
    const unnormalized = await loadModel(tinyModel(false));
    const raw = unnormalized.predict(Float32Array.from(image.data));
    const largestChange = Math.max(...raw.map((score, i) => Math.abs(score - expected[i])));
    expect(largestChange, 'the option changes the scores').toBeGreaterThan(1e-3);
    expect(warn.mock.calls.filter((call) => String(call[0]).includes('does not state')).length, 'warnings with the option').toBe(0);
    model.dispose();
    unnormalized.dispose();
  });

  it.each([
    [{ mean: [1, 2], std: [1, 1, 1] }, /mean must be 3 finite numbers/],
    [{ mean: [0, 0, 0], std: [1, 0, 1] }, /std must be 3 finite numbers \(R, G, B\) above 0/],
    [{ mean: [0, Number.NaN, 0], std: [1, 1, 1] }, /mean must be 3 finite numbers/],
    [null, /expected \{ mean: \[r, g, b\], std: \[r, g, b\] \}/],
  ])('invalid option %j is rejected', async (normalization, message) => {
    await expect(loadModel(tinyModel(false), { normalization: normalization as never })).rejects.toThrow(message);
  });

  it('converted file keeps the assumed mark', async () => {
    const description = await readModelDescription(tinyModel(false));
    const restored = importModelFile(serializeModel(description), { source: 'tiny.safetensors' });
    expect(restored.normalizationAssumed).toBe(true);
    const stated = importModelFile(serializeModel(await readModelDescription(tinyModel(true))), { source: 'tiny.safetensors' });
    expect(stated.normalizationAssumed).toBeUndefined();
  });
});

describe('loadModel kernel errors', () => {
  // loadModel compiles the kernels while it reads the file, so a kernel error can come first.
  it('invalid wasmPath with a file path rejects', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'effnet-kernels-'));
    try {
      const file = path.join(dir, 'tiny.safetensors');
      writeFileSync(file, serializeModel(await readModelDescription(tinyModel(true))));
      await expect(loadModel(file, { wasmPath: 'gpu' as never })).rejects.toThrow(
        `Invalid wasmPath: expected 'auto', 'relaxed-simd', 'simd' or 'scalar', but got "gpu".`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('missing file wins over a kernel error', async () => {
    // An invalid wasmModule fails only when the kernels start, which runs alongside the file read.
    await expect(loadModel('no/such/tiny.safetensors', { wasmModule: 'not a module' as never })).rejects.toThrow(
      'Model file not found: no/such/tiny.safetensors. Check the path.',
    );
  });

  it('invalid wasmPath fails before the file is read', async () => {
    await expect(loadModel('no/such/tiny.safetensors', { wasmPath: 'gpu' as never })).rejects.toThrow(
      'Invalid wasmPath: expected \'auto\', \'relaxed-simd\', \'simd\' or \'scalar\', but got "gpu".',
    );
  });
});
