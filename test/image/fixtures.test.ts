import { readFileSync } from 'node:fs';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { decodeImage, preprocess } from '../../src/image/index.js';
import {
  FIXTURE_IMAGES_DIR,
  FIXTURE_INPUTS_DIR,
  FIXTURE_PHOTOS,
  fixturesAvailable,
  fixturesSkipNote,
} from '../support/image-fixtures.js';
import { resizeLikePillow } from '../support/pillow-bilinear-reference.js';

// The reference inputs are Pillow's 8-bit bilinear resizes of each whole photo to
// 224x224. Pillow rounds its horizontal pass to uint8 and uses 22-bit fixed-point
// weights, and the library resizes in float, so rounded results differ by one level
// where a value sits near .5. Measured on the six photos: max 1 everywhere, mean
// 0.118 (grace_hopper) to 0.171 (chelsea), about 12% to 17% of values off by one.
const PILLOW_MAX_LEVEL_DIFFERENCE = 1;
const PILLOW_MEAN_LEVEL_DIFFERENCE = 0.25;

const INPUT_SIZE = 224;

describe.skipIf(!fixturesAvailable)(`fixture photos${fixturesSkipNote}`, () => {
  for (const photo of FIXTURE_PHOTOS) {
    describe(photo.file, () => {
      const imagePath = path.join(FIXTURE_IMAGES_DIR, photo.file);
      const reference = (): Uint8Array => new Uint8Array(readFileSync(path.join(FIXTURE_INPUTS_DIR, photo.resizedInput)));

      it('decodes to the known size', async () => {
        const pixels = await decodeImage(imagePath);
        expect(pixels.width).toBe(photo.width);
        expect(pixels.height).toBe(photo.height);
        expect(pixels.channels).toBe(3);
      });

      it('resizes within one level of Pillow', async () => {
        const pixels = await decodeImage(imagePath);
        const expected = reference();
        expect(expected.length).toBe(INPUT_SIZE * INPUT_SIZE * 3);
        const actual = preprocess(pixels, {
          width: INPUT_SIZE,
          height: INPUT_SIZE,
          mean: [0, 0, 0],
          std: [1, 1, 1],
          round: true,
        });

        let max = 0;
        let sum = 0;
        let maxIndex = 0;
        for (let i = 0; i < expected.length; i++) {
          const difference = Math.abs(actual[i] - expected[i]);
          if (difference > max) {
            max = difference;
            maxIndex = i;
          }
          sum += difference;
        }
        const mean = sum / expected.length;
        const where = `at index ${maxIndex} (actual ${actual[maxIndex]}, Pillow ${expected[maxIndex]})`;
        expect(max, `max difference ${where}`).toBeLessThanOrEqual(PILLOW_MAX_LEVEL_DIFFERENCE);
        expect(mean, 'mean difference').toBeLessThanOrEqual(PILLOW_MEAN_LEVEL_DIFFERENCE);
      });

      // Equality here shows that decoding matches the decoder behind the reference
      // bytes, and that the float resize differs from them only by Pillow's rounding.
      it('matches Pillow exactly with its rounding', async () => {
        const pixels = await decodeImage(imagePath);
        const actual = resizeLikePillow(pixels, INPUT_SIZE, INPUT_SIZE);
        const expected = reference();
        const firstMismatch = actual.findIndex((value, i) => value !== expected[i]);
        expect(firstMismatch, 'index of the first differing byte').toBe(-1);
      });
    });
  }

  it('rejects the truncated JPEG and names the file', async () => {
    const imagePath = path.join(FIXTURE_IMAGES_DIR, 'truncated.jpg');
    await expect(decodeImage(imagePath)).rejects.toThrow(
      `Failed to decode image ${imagePath}: the JPEG data is truncated (VipsJpeg: premature end of JPEG image); ` +
        're-export or re-download the file.',
    );
  });
});
