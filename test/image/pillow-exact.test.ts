import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { decodeImage, preprocess } from '../../src/image/index.js';
import { FIXTURE_INPUTS_DIR, FIXTURE_IMAGES_DIR, FIXTURE_PHOTOS, fixturesAvailable, fixturesSkipNote } from '../support/image-fixtures.js';
import { resizeLikePillow } from '../support/pillow-bilinear-reference.js';

const IDENTITY = { mean: [0, 0, 0] as [number, number, number], std: [1, 1, 1] as [number, number, number] };

// With round: true, preprocessing follows Pillow's 8-bit arithmetic, so the uint8
// model input equals what a Pillow-based Python pipeline feeds the model.
describe.skipIf(!fixturesAvailable)(`uint8 preprocessing equals Pillow${fixturesSkipNote}`, () => {
  test.each(FIXTURE_PHOTOS.map((photo) => [photo.file, photo.resizedInput]))('%s', async (file, resized) => {
    const pixels = await decodeImage(path.join(FIXTURE_IMAGES_DIR, file));
    const ours = preprocess(pixels, { width: 224, height: 224, round: true, ...IDENTITY });
    const pillow = readFileSync(path.join(FIXTURE_INPUTS_DIR, resized));
    let mismatches = 0;
    for (let i = 0; i < pillow.length; i++) if (ours[i] !== pillow[i]) mismatches++;
    expect(mismatches, `${file}: values that differ from Pillow's bytes`).toBe(0);
  });
});

describe('Pillow-compatible resize on generated images', () => {
  function image(width: number, height: number, channels: 1 | 2 | 3 | 4, seed: number) {
    const data = new Uint8Array(width * height * channels);
    let state = seed;
    for (let i = 0; i < data.length; i++) {
      state = (state * 1103515245 + 12345) >>> 0;
      data[i] = state >>> 24;
    }
    return { data, width, height, channels };
  }

  const sizes: [number, number, number, number][] = [
    [37, 23, 224, 224],
    [224, 224, 224, 224],
    [640, 480, 224, 224],
    [5, 300, 17, 9],
    [1, 1, 3, 4],
  ];
  test.each(sizes)('%ix%i to %ix%i matches the reference model', (width, height, outWidth, outHeight) => {
    const rgb = image(width, height, 3, width * 31 + height);
    const ours = preprocess(rgb, { width: outWidth, height: outHeight, round: true, ...IDENTITY });
    expect(Array.from(ours)).toEqual(Array.from(resizeLikePillow(rgb, outWidth, outHeight)));
  });

  test('gray and alpha convert like RGB', () => {
    const gray = image(31, 17, 1, 5);
    const asRgb = { ...gray, data: Uint8Array.from({ length: 31 * 17 * 3 }, (_, i) => gray.data[Math.floor(i / 3)]), channels: 3 as const };
    const options = { width: 11, height: 7, round: true, ...IDENTITY };
    expect(Array.from(preprocess(gray, options))).toEqual(Array.from(preprocess(asRgb, options)));
    const rgba = image(31, 17, 4, 6);
    const dropped = { ...rgba, data: rgba.data.filter((_, i) => i % 4 !== 3), channels: 3 as const };
    expect(Array.from(preprocess(rgba, options))).toEqual(Array.from(preprocess(dropped, options)));
  });
});
