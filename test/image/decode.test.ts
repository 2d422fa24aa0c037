import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { decodeImage, toRgb, type PixelData } from '../../src/image/index.js';

/** Maximum and mean absolute difference between two equally long byte arrays. */
function levelDifference(actual: ArrayLike<number>, expected: ArrayLike<number>): { max: number; mean: number } {
  expect(actual.length).toBe(expected.length);
  let max = 0;
  let sum = 0;
  for (let i = 0; i < expected.length; i++) {
    const difference = Math.abs(actual[i] - expected[i]);
    max = Math.max(max, difference);
    sum += difference;
  }
  return { max, mean: sum / expected.length };
}

/** Builds a smooth RGB gradient, which lossy codecs reproduce closely. */
function gradient(width: number, height: number): PixelData {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const offset = (y * width + x) * 3;
      data[offset] = Math.round((x / (width - 1)) * 255);
      data[offset + 1] = Math.round((y / (height - 1)) * 255);
      data[offset + 2] = 128;
    }
  }
  return { data, width, height, channels: 3 };
}

function encoder(pixels: PixelData): ReturnType<typeof sharp> {
  return sharp(pixels.data, { raw: { width: pixels.width, height: pixels.height, channels: pixels.channels } });
}

// Lossy codecs at quality 95 on the 33x21 gradient, measured with sharp 0.35: JPEG
// max 3 levels (mean 0.76), WebP max 7 (mean 1.41). The limits leave room for codec updates.
const JPEG_MAX_LEVEL_DIFFERENCE = 6;
const WEBP_MAX_LEVEL_DIFFERENCE = 10;
const LOSSY_MEAN_LEVEL_DIFFERENCE = 2;

let temporaryDir: string;
beforeAll(async () => {
  temporaryDir = await mkdtemp(path.join(os.tmpdir(), 'efficientnet-wasm-image-'));
});
afterAll(async () => {
  await rm(temporaryDir, { recursive: true, force: true });
});

describe('decodeImage with sharp', () => {
  const source = gradient(33, 21);

  it('decodes PNG bytes exactly', async () => {
    const png = await encoder(source).png().toBuffer();
    const pixels = await decodeImage(new Uint8Array(png));
    expect(pixels.width).toBe(33);
    expect(pixels.height).toBe(21);
    expect(pixels.channels).toBe(3);
    expect(pixels.data).toEqual(source.data);
  });

  it('decodes a PNG ArrayBuffer exactly', async () => {
    const png = await encoder(source).png().toBuffer();
    const arrayBuffer = png.buffer.slice(png.byteOffset, png.byteOffset + png.byteLength);
    const pixels = await decodeImage(arrayBuffer);
    expect(pixels.data).toEqual(source.data);
  });

  it('decodes JPEG bytes closely', async () => {
    const jpeg = await encoder(source).jpeg({ quality: 95, chromaSubsampling: '4:4:4' }).toBuffer();
    const pixels = await decodeImage(jpeg);
    expect(pixels.width).toBe(33);
    expect(pixels.height).toBe(21);
    const difference = levelDifference(pixels.data, source.data);
    expect(difference.max).toBeLessThanOrEqual(JPEG_MAX_LEVEL_DIFFERENCE);
    expect(difference.mean).toBeLessThanOrEqual(LOSSY_MEAN_LEVEL_DIFFERENCE);
  });

  it('decodes WebP bytes closely', async () => {
    const webp = await encoder(source).webp({ quality: 95 }).toBuffer();
    const pixels = await decodeImage(webp);
    expect(pixels.width).toBe(33);
    expect(pixels.height).toBe(21);
    const difference = levelDifference(toRgb(pixels).data, source.data);
    expect(difference.max).toBeLessThanOrEqual(WEBP_MAX_LEVEL_DIFFERENCE);
    expect(difference.mean).toBeLessThanOrEqual(LOSSY_MEAN_LEVEL_DIFFERENCE);
  });

  it('decodes lossless WebP exactly', async () => {
    const webp = await encoder(source).webp({ lossless: true }).toBuffer();
    const pixels = await decodeImage(webp);
    expect(toRgb(pixels).data).toEqual(source.data);
  });

  it('replicates gray from a grayscale PNG', async () => {
    const gray: PixelData = { data: Uint8Array.from([0, 50, 100, 150, 200, 250]), width: 3, height: 2, channels: 1 };
    const png = await encoder(gray).png().toBuffer();
    const rgb = toRgb(await decodeImage(png));
    expect(rgb.channels).toBe(3);
    expect(Array.from(rgb.data)).toEqual([0, 0, 0, 50, 50, 50, 100, 100, 100, 150, 150, 150, 200, 200, 200, 250, 250, 250]);
  });

  it('keeps alpha of an RGBA PNG until toRgb', async () => {
    const rgba: PixelData = { data: Uint8Array.from([255, 0, 0, 10, 0, 255, 0, 128, 0, 0, 255, 255]), width: 3, height: 1, channels: 4 };
    const png = await encoder(rgba).png().toBuffer();
    const pixels = await decodeImage(png);
    expect(pixels.channels).toBe(4);
    expect(Array.from(pixels.data)).toEqual(Array.from(rgba.data));
    expect(Array.from(toRgb(pixels).data)).toEqual([255, 0, 0, 0, 255, 0, 0, 0, 255]);
  });

  it('applies EXIF orientation 6', async () => {
    // 48x32 stored: top-left quarter red, top-right quarter green, bottom half blue.
    // Orientation 6 means "rotate 90 degrees clockwise to display", which gives a 32x48
    // image with blue on the left, red at the top right and green at the bottom right.
    const width = 48;
    const height = 32;
    const data = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        let color = [0, 0, 255];
        if (y < height / 2) color = x < width / 2 ? [255, 0, 0] : [0, 255, 0];
        data.set(color, (y * width + x) * 3);
      }
    }
    const jpeg = await encoder({ data, width, height, channels: 3 })
      .jpeg({ quality: 100, chromaSubsampling: '4:4:4' })
      .withMetadata({ orientation: 6 })
      .toBuffer();
    expect((await sharp(jpeg).metadata()).orientation).toBe(6);

    const pixels = await decodeImage(jpeg);
    expect(pixels.width).toBe(32);
    expect(pixels.height).toBe(48);
    const colorAt = (x: number, y: number): number[] => Array.from(pixels.data.subarray((y * 32 + x) * 3, (y * 32 + x) * 3 + 3));
    const near = (actual: number[], expected: number[]): boolean => actual.every((value, i) => Math.abs(value - expected[i]) <= 8);
    expect(colorAt(8, 24), 'left half').toSatisfy((color: number[]) => near(color, [0, 0, 255]));
    expect(colorAt(24, 12), 'top right quarter').toSatisfy((color: number[]) => near(color, [255, 0, 0]));
    expect(colorAt(24, 36), 'bottom right quarter').toSatisfy((color: number[]) => near(color, [0, 255, 0]));
  });

  it('reads a file path and sniffs the format from bytes', async () => {
    // The PNG has a .bmp name on purpose: the magic bytes decide the decoder.
    const file = path.join(temporaryDir, 'misnamed.bmp');
    await writeFile(file, await encoder(source).png().toBuffer());
    const pixels = await decodeImage(file);
    expect(pixels.data).toEqual(source.data);
  });
});

describe('decodeImage errors', () => {
  it('names a missing file', async () => {
    const file = path.join(temporaryDir, 'no-such-photo.jpg');
    await expect(decodeImage(file)).rejects.toThrow(`Image file not found: ${file}`);
  });

  it('rejects a directory path', async () => {
    const directory = path.join(temporaryDir, 'folder.png');
    await mkdir(directory);
    await expect(decodeImage(directory)).rejects.toThrow(
      `Failed to read image ${directory}: the path is a directory; pass the path of an image file.`,
    );
  });

  it('lists supported formats for unknown bytes', async () => {
    const bytes = new TextEncoder().encode('not an image at all');
    await expect(decodeImage(bytes)).rejects.toThrow(
      'Failed to decode image buffer: the format is not recognized (first bytes: 6e 6f 74 20 61 6e 20 69); ' +
        'supported formats are JPEG, PNG, WebP, BMP.',
    );
  });

  it('names the file of unknown bytes', async () => {
    const file = path.join(temporaryDir, 'notes.jpg');
    await writeFile(file, 'plain text');
    await expect(decodeImage(file)).rejects.toThrow(`Failed to decode image ${file}: the format is not recognized`);
  });

  it('rejects a recognized but unsupported format', async () => {
    const gif = await sharp({ create: { width: 2, height: 2, channels: 3, background: '#808080' } }).gif().toBuffer();
    await expect(decodeImage(gif)).rejects.toThrow(
      'Failed to decode image buffer: the format is GIF, which is not supported; supported formats are JPEG, PNG, WebP, BMP.',
    );
  });

  it('rejects empty bytes', async () => {
    await expect(decodeImage(new Uint8Array(0))).rejects.toThrow('Failed to decode image buffer: the data is empty (0 bytes).');
  });

  it('rejects a JPEG cut in half', async () => {
    const jpeg = await encoder(gradient(64, 64)).jpeg({ quality: 90 }).toBuffer();
    const half = jpeg.subarray(0, jpeg.length >> 1);
    await expect(decodeImage(half)).rejects.toThrow(
      'Failed to decode image buffer: the JPEG data is truncated (VipsJpeg: premature end of JPEG image); ' +
        're-export or re-download the file.',
    );
  });

  it('rejects a PNG cut in half', async () => {
    const png = await encoder(gradient(64, 64)).png().toBuffer();
    const file = path.join(temporaryDir, 'cut.png');
    await writeFile(file, png.subarray(0, png.length >> 1));
    await expect(decodeImage(file)).rejects.toThrow(`Failed to decode image ${file}: the PNG data is invalid or truncated (`);
  });

  it('rejects a path outside Node', async () => {
    vi.stubGlobal('process', { ...process, versions: {} });
    try {
      await expect(decodeImage('/photos/cat.jpg')).rejects.toThrow('Cannot read image /photos/cat.jpg: file paths work only in Node.');
    } finally {
      vi.unstubAllGlobals();
    }
  });

  it('explains a missing sharp', async () => {
    vi.resetModules();
    vi.doMock('sharp', () => {
      throw new Error("Cannot find package 'sharp'");
    });
    try {
      const fresh = await import('../../src/image/index.js');
      const png = await encoder(gradient(4, 4)).png().toBuffer();
      await expect(fresh.decodeImage(png)).rejects.toThrow(/Run `npm install sharp` \(in Deno, also allow --allow-env and --allow-ffi\), or decode the image yourself and pass a pixel object/);
    } finally {
      vi.doUnmock('sharp');
      vi.resetModules();
    }
  });
});

describe('decodeImage with PixelData', () => {
  const valid = (): PixelData => ({ data: new Uint8Array(2 * 3 * 4), width: 2, height: 3, channels: 4 });

  it('returns valid pixels unchanged', async () => {
    const pixels = valid();
    expect(await decodeImage(pixels)).toBe(pixels);
  });

  it('accepts Uint8ClampedArray data', async () => {
    const pixels: PixelData = { data: new Uint8ClampedArray(6), width: 2, height: 1, channels: 3 };
    expect(await decodeImage(pixels)).toBe(pixels);
  });

  const invalidCases: Array<[string, Partial<Record<keyof PixelData, unknown>>, string]> = [
    ['zero width', { width: 0 }, 'Invalid PixelData: width must be a positive integer, but got 0.'],
    ['fractional width', { width: 1.5 }, 'Invalid PixelData: width must be a positive integer, but got 1.5.'],
    ['negative height', { height: -3 }, 'Invalid PixelData: height must be a positive integer, but got -3.'],
    ['string height', { height: '3' }, 'Invalid PixelData: height must be a positive integer, but got "3".'],
    ['five channels', { channels: 5 }, 'Invalid PixelData: channels must be 1 (gray), 2 (gray and alpha), 3 (RGB) or 4 (RGBA), but got 5.'],
    [
      'short data',
      { data: new Uint8Array(23) },
      'Invalid PixelData: data length must be width * height * channels = 2 * 3 * 4 = 24, but got 23; ' +
        'pass tightly packed rows with no padding.',
    ],
    ['plain array data', { data: new Array(24).fill(0) }, 'Invalid PixelData: data must be a Uint8Array or Uint8ClampedArray, but got Array;'],
    ['float data', { data: new Float32Array(24) }, 'Invalid PixelData: data must be a Uint8Array or Uint8ClampedArray, but got Float32Array;'],
  ];
  for (const [name, change, message] of invalidCases) {
    it(`rejects ${name}`, async () => {
      const pixels = { ...valid(), ...change } as PixelData;
      await expect(decodeImage(pixels)).rejects.toThrow(message);
    });
  }

  it('rejects a value of another type', async () => {
    await expect(decodeImage(42 as unknown as PixelData)).rejects.toThrow(
      'Invalid image input: expected a file path, a Uint8Array, ArrayBuffer or Blob of file bytes, a pixel object ({ data, width, height, channels }) ' +
        'or a browser image (img element, canvas, ImageBitmap, ImageData, VideoFrame), but got number.',
    );
  });
});
