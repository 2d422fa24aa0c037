import { describe, expect, it } from 'vitest';

import { centerCropRegion, preprocess, preprocessInto, resizeBilinear, type PixelData } from '../../src/image/index.js';

/** Deterministic pseudo-random RGB pixels (a linear congruential generator). */
function randomPixels(width: number, height: number, channels: PixelData['channels'], seed: number): PixelData {
  const data = new Uint8Array(width * height * channels);
  let state = seed;
  for (let i = 0; i < data.length; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    data[i] = state >>> 24;
  }
  return { data, width, height, channels };
}

function rgb(width: number, height: number, color: (x: number, y: number) => [number, number, number]): PixelData {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set(color(x, y), (y * width + x) * 3);
  }
  return { data, width, height, channels: 3 };
}

/** Returns channel `channel` of a [height, width, 3] tensor as rows. */
function channelRows(tensor: Float32Array, width: number, height: number, channel: number): number[][] {
  return Array.from({ length: height }, (_, y) => Array.from({ length: width }, (_, x) => tensor[(y * width + x) * 3 + channel]));
}

// A constant image goes through weights that sum to 1 in float64 and float32 storage
// between and after the passes, so outputs may be off by rounding. 1e-4 is far above
// that error and far below one level.
const CONSTANT_TOLERANCE = 1e-4;

describe('resizeBilinear', () => {
  it('returns the input exactly at identity size', () => {
    const pixels = randomPixels(7, 5, 3, 1);
    const resized = resizeBilinear(pixels, 7, 5);
    expect(Array.from(resized)).toEqual(Array.from(pixels.data));
  });

  it('replicates gray and drops alpha', () => {
    const gray: PixelData = { data: Uint8Array.from([10, 200]), width: 2, height: 1, channels: 1 };
    expect(Array.from(resizeBilinear(gray, 2, 1))).toEqual([10, 10, 10, 200, 200, 200]);
    const rgba: PixelData = { data: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]), width: 2, height: 1, channels: 4 };
    expect(Array.from(resizeBilinear(rgba, 2, 1))).toEqual([1, 2, 3, 5, 6, 7]);
    const grayAlpha: PixelData = { data: Uint8Array.from([9, 0]), width: 1, height: 1, channels: 2 };
    expect(Array.from(resizeBilinear(grayAlpha, 1, 1))).toEqual([9, 9, 9]);
  });

  it('keeps a constant image constant', () => {
    const color: [number, number, number] = [17, 128, 250];
    const pixels = rgb(37, 23, () => color);
    for (const [width, height] of [[5, 7], [100, 3], [1, 1], [74, 46], [37, 500]]) {
      const resized = resizeBilinear(pixels, width, height);
      for (let i = 0; i < resized.length; i++) {
        const expected = color[i % 3];
        if (Math.abs(resized[i] - expected) > CONSTANT_TOLERANCE) {
          expect.fail(`${width}x${height}: index ${i} is ${resized[i]}, expected ${expected}`);
        }
      }
    }
  });

  it('upsamples 2x2 to 4x4 by hand-computed weights', () => {
    // Along each axis the output centers sit at input coordinates 0.25, 0.75, 1.25 and
    // 1.75, so the weights of the two input pixels are 1|0, 0.75|0.25, 0.25|0.75, 0|1.
    const values = [
      [0, 100],
      [200, 40],
    ];
    const pixels = rgb(2, 2, (x, y) => [values[y][x], 255 - values[y][x], 7]);
    const resized = resizeBilinear(pixels, 4, 4);
    const expectedRed = [
      [0, 25, 75, 100],
      [50, 58.75, 76.25, 85],
      [150, 126.25, 78.75, 55],
      [200, 160, 80, 40],
    ];
    expect(channelRows(resized, 4, 4, 0)).toEqual(expectedRed);
    expect(channelRows(resized, 4, 4, 1)).toEqual(expectedRed.map((row) => row.map((value) => 255 - value)));
    expect(channelRows(resized, 4, 4, 2)).toEqual(Array.from({ length: 4 }, () => [7, 7, 7, 7]));
  });

  it('widens the filter when downsampling', () => {
    // 4 -> 2 doubles the triangle's radius to 2 input pixels. Output 0 is centered at
    // input coordinate 1.0, so pixels 0, 1, 2 get weights 0.75, 0.75, 0.25 (sum 1.75),
    // giving (0 * 3 + 70 * 3 + 140) / 7 = 50. Output 1 gives (70 + 140 * 3 + 210 * 3) / 7 = 160.
    const row = [0, 70, 140, 210];
    const pixels = rgb(4, 1, (x) => [row[x], row[x], row[x]]);
    const resized = resizeBilinear(pixels, 2, 1);
    expect(resized[0]).toBeCloseTo(50, 4);
    expect(resized[3]).toBeCloseTo(160, 4);
  });

  it('rejects a non-integer size', () => {
    expect(() => resizeBilinear(randomPixels(2, 2, 3, 2), 0, 3)).toThrow('resizeBilinear: width must be a positive integer, but got 0.');
    expect(() => resizeBilinear(randomPixels(2, 2, 3, 2), 3, 2.5)).toThrow('resizeBilinear: height must be a positive integer, but got 2.5.');
  });
});

describe('centerCropRegion', () => {
  it('crops the middle of a wide image', () => {
    expect(centerCropRegion(300, 200, 100, 100)).toEqual({ x: 50, y: 0, width: 200, height: 200 });
  });

  it('crops the middle of a tall image', () => {
    expect(centerCropRegion(200, 300, 100, 100)).toEqual({ x: 0, y: 50, width: 200, height: 200 });
  });

  it('keeps an image of the target aspect ratio whole', () => {
    expect(centerCropRegion(640, 480, 4, 3)).toEqual({ x: 0, y: 0, width: 640, height: 480 });
  });
});

describe('preprocess', () => {
  const identity = { mean: [0, 0, 0] as [number, number, number], std: [1, 1, 1] as [number, number, number] };

  it('center-crops a 300x200 image to its middle 200x200', () => {
    // Columns outside the middle are pure red, so any of them leaking in would show.
    const wide = rgb(300, 200, (x, y) => (x < 50 || x >= 250 ? [255, 0, 0] : [x - 50, y, (x + y) % 256]));
    const middle = rgb(200, 200, (x, y) => [x, y, (x + 50 + y) % 256]);
    const cropped = preprocess(wide, { ...identity, width: 100, height: 100, fit: 'center-crop' });
    const expected = preprocess(middle, { ...identity, width: 100, height: 100 });
    expect(Array.from(cropped)).toEqual(Array.from(expected));
  });

  it('stretches the whole image by default', () => {
    const pixels = randomPixels(30, 20, 3, 3);
    const stretched = preprocess(pixels, { ...identity, width: 10, height: 10 });
    expect(Array.from(stretched)).toEqual(Array.from(resizeBilinear(pixels, 10, 10)));
  });

  it('normalizes each channel by mean and std', () => {
    const pixels = rgb(1, 1, () => [255, 127, 0]);
    const tensor = preprocess(pixels, { width: 1, height: 1, mean: [127.5, 126, 10], std: [127.5, 0.5, 2] });
    expect(Array.from(tensor)).toEqual([1, 2, -5]);
  });

  it('rounds half up before normalizing', () => {
    // Upsampling [0, 2] to 4 pixels gives 0, 0.5, 1.5, 2, which round to 0, 1, 2, 2.
    const pixels = rgb(2, 1, (x) => [x * 2, x * 2, x * 2]);
    const rounded = preprocess(pixels, { width: 4, height: 1, mean: [1, 1, 1], std: [1, 1, 1], round: true });
    expect(channelRows(rounded, 4, 1, 0)).toEqual([[-1, 0, 1, 1]]);
    const unrounded = preprocess(pixels, { ...identity, width: 4, height: 1 });
    expect(channelRows(unrounded, 4, 1, 0)).toEqual([[0, 0.5, 1.5, 2]]);
  });

  it('gives a [height, width, 3] tensor', () => {
    const tensor = preprocess(randomPixels(9, 9, 4, 4), { ...identity, width: 6, height: 4 });
    expect(tensor).toBeInstanceOf(Float32Array);
    expect(tensor.length).toBe(4 * 6 * 3);
  });

  const invalidOptions: Array<[string, Record<string, unknown>, string]> = [
    ['zero width', { width: 0 }, 'preprocess: width must be a positive integer, but got 0.'],
    ['unknown fit', { fit: 'cover' }, `Invalid fit: expected 'stretch' or 'center-crop', but got "cover".`],
    ['short mean', { mean: [1, 2] }, 'Invalid normalization: mean must be an array of 3 finite numbers (R, G, B), but got [1,2].'],
    ['NaN std', { std: [1, Number.NaN, 1] }, 'Invalid normalization: std must be an array of 3 finite numbers (R, G, B), but got [1,null,1].'],
    ['zero std', { std: [1, 0, 1] }, 'Invalid normalization: std must have no zero entry, but got [1,0,1].'],
  ];
  for (const [name, change, message] of invalidOptions) {
    it(`rejects ${name}`, () => {
      const options = { ...identity, width: 2, height: 2, ...change } as Parameters<typeof preprocess>[1];
      expect(() => preprocess(randomPixels(2, 2, 3, 5), options)).toThrow(message);
    });
  }
});

describe('preprocessInto', () => {
  const options = { width: 8, height: 6, mean: [127.5, 127.5, 127.5] as [number, number, number], std: [64, 64, 64] as [number, number, number] };

  it('fills and returns the given buffer', () => {
    const pixels = randomPixels(20, 13, 3, 6);
    const output = new Float32Array(8 * 6 * 3).fill(Number.NaN);
    const returned = preprocessInto(pixels, options, output);
    expect(returned).toBe(output);
    expect(Array.from(output)).toEqual(Array.from(preprocess(pixels, options)));
  });

  it('stays correct across changing geometries', () => {
    // The cached tap tables must follow the input size, the crop and the output size.
    const first = randomPixels(20, 13, 3, 7);
    const second = randomPixels(13, 20, 1, 8);
    const output = new Float32Array(8 * 6 * 3);
    const cases: Array<[PixelData, Parameters<typeof preprocess>[1]]> = [
      [first, options],
      [second, options],
      [first, { ...options, fit: 'center-crop' }],
      [second, { ...options, fit: 'center-crop', round: true }],
      [first, options],
    ];
    for (const [pixels, caseOptions] of cases) {
      preprocessInto(pixels, caseOptions, output);
      expect(Array.from(output)).toEqual(Array.from(preprocess(pixels, caseOptions)));
    }
  });

  it('rejects a buffer of the wrong length', () => {
    expect(() => preprocessInto(randomPixels(4, 4, 3, 9), options, new Float32Array(10))).toThrow(
      'preprocessInto: output must be a Float32Array of height * width * 3 = 144 elements, but got length 10.',
    );
  });

  it('rejects invalid pixels', () => {
    const broken = { data: new Uint8Array(5), width: 2, height: 2, channels: 3 } as PixelData;
    expect(() => preprocessInto(broken, options, new Float32Array(144))).toThrow(
      'Invalid PixelData: data length must be width * height * channels = 2 * 2 * 3 = 12, but got 5;',
    );
  });
});
