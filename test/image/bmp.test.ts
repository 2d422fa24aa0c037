import { describe, expect, it } from 'vitest';

import { decodeBmp, decodeImage } from '../../src/image/index.js';
import { BI_ALPHABITFIELDS, BI_BITFIELDS, BI_RLE8, buildBmp } from '../support/bmp-builder.js';

/** A 5x3 RGB test pattern with a different color in every pixel. */
const WIDTH = 5;
const HEIGHT = 3;
function patternColor(x: number, y: number): [number, number, number] {
  return [10 + x * 40, 20 + y * 90, (x * 37 + y * 53) % 256];
}

function expectedPattern(channels: 3 | 4, alpha = 255): Uint8Array {
  const data = new Uint8Array(WIDTH * HEIGHT * channels);
  for (let y = 0; y < HEIGHT; y++) {
    for (let x = 0; x < WIDTH; x++) {
      const offset = (y * WIDTH + x) * channels;
      data.set(patternColor(x, y), offset);
      if (channels === 4) data[offset + 3] = alpha;
    }
  }
  return data;
}

describe('decodeBmp', () => {
  it('reads 24-bit bottom-up rows with padding', () => {
    // 5 pixels * 3 bytes = 15 bytes a row, padded to 16.
    const bytes = buildBmp({ width: WIDTH, height: HEIGHT, bitsPerPixel: 24, pixel: patternColor });
    const pixels = decodeBmp(bytes);
    expect(pixels.width).toBe(WIDTH);
    expect(pixels.height).toBe(HEIGHT);
    expect(pixels.channels).toBe(3);
    expect(pixels.data).toEqual(expectedPattern(3));
  });

  it('reads 24-bit top-down rows', () => {
    const bytes = buildBmp({ width: WIDTH, height: HEIGHT, bitsPerPixel: 24, topDown: true, pixel: patternColor });
    const pixels = decodeBmp(bytes);
    expect(pixels.height).toBe(HEIGHT);
    expect(pixels.data).toEqual(expectedPattern(3));
  });

  it('reads 32-bit BI_RGB and ignores the top byte', () => {
    const bytes = buildBmp({
      width: WIDTH,
      height: HEIGHT,
      bitsPerPixel: 32,
      pixel: (x, y) => {
        const [red, green, blue] = patternColor(x, y);
        return ((0x7f << 24) | (red << 16) | (green << 8) | blue) >>> 0;
      },
    });
    const pixels = decodeBmp(bytes);
    expect(pixels.channels).toBe(3);
    expect(pixels.data).toEqual(expectedPattern(3));
  });

  it('reads 32-bit BI_BITFIELDS with alpha in a V5 header', () => {
    // Byte order in memory: red, green, blue, alpha.
    const masks = [0x000000ff, 0x0000ff00, 0x00ff0000, 0xff000000];
    const bytes = buildBmp({
      width: WIDTH,
      height: HEIGHT,
      bitsPerPixel: 32,
      headerBytes: 124,
      compression: BI_BITFIELDS,
      masks,
      pixel: (x, y) => {
        const [red, green, blue] = patternColor(x, y);
        return ((200 << 24) | (blue << 16) | (green << 8) | red) >>> 0;
      },
    });
    const pixels = decodeBmp(bytes);
    expect(pixels.channels).toBe(4);
    expect(pixels.data).toEqual(expectedPattern(4, 200));
  });

  it('reads masks after a 40-byte header', () => {
    const bytes = buildBmp({
      width: WIDTH,
      height: HEIGHT,
      bitsPerPixel: 32,
      compression: BI_BITFIELDS,
      masks: [0x00ff0000, 0x0000ff00, 0x000000ff],
      pixel: (x, y) => {
        const [red, green, blue] = patternColor(x, y);
        return (red << 16) | (green << 8) | blue;
      },
    });
    const pixels = decodeBmp(bytes);
    expect(pixels.channels).toBe(3);
    expect(pixels.data).toEqual(expectedPattern(3));
  });

  it('reads BI_ALPHABITFIELDS with four masks', () => {
    const bytes = buildBmp({
      width: 1,
      height: 1,
      bitsPerPixel: 32,
      compression: BI_ALPHABITFIELDS,
      masks: [0x00ff0000, 0x0000ff00, 0x000000ff, 0xff000000],
      pixel: () => 0x80102030,
    });
    expect(Array.from(decodeBmp(bytes).data)).toEqual([0x10, 0x20, 0x30, 0x80]);
  });

  it('widens 16-bit 5-6-5 fields to 8 bits', () => {
    // Red 31 -> 255, green 32 of 63 -> 130, blue 16 of 31 -> 132 (value * 255 / max, rounded).
    const bytes = buildBmp({
      width: 3,
      height: 1,
      bitsPerPixel: 16,
      compression: BI_BITFIELDS,
      masks: [0xf800, 0x07e0, 0x001f],
      pixel: (x) => [31 << 11, 32 << 5, 16][x],
    });
    const pixels = decodeBmp(bytes);
    expect(Array.from(pixels.data)).toEqual([255, 0, 0, 0, 130, 0, 0, 0, 132]);
  });

  it('reads 16-bit BI_RGB as 5-5-5', () => {
    const bytes = buildBmp({ width: 1, height: 1, bitsPerPixel: 16, pixel: () => (31 << 10) | (0 << 5) | 31 });
    expect(Array.from(decodeBmp(bytes).data)).toEqual([255, 0, 255]);
  });

  it('reads an 8-bit palette', () => {
    const palette = Array.from({ length: WIDTH * HEIGHT }, (_, i) => patternColor(i % WIDTH, Math.floor(i / WIDTH)));
    const bytes = buildBmp({ width: WIDTH, height: HEIGHT, bitsPerPixel: 8, palette, pixel: (x, y) => y * WIDTH + x });
    const pixels = decodeBmp(bytes);
    expect(pixels.channels).toBe(3);
    expect(pixels.data).toEqual(expectedPattern(3));
  });

  it('reads a 4-bit palette', () => {
    const palette = Array.from({ length: 16 }, (_, i) => [i * 16, 255 - i * 16, i] as const);
    const indices = [
      [0, 15, 7],
      [3, 1, 12],
    ];
    const bytes = buildBmp({ width: 3, height: 2, bitsPerPixel: 4, palette, pixel: (x, y) => indices[y][x] });
    const pixels = decodeBmp(bytes);
    expect(Array.from(pixels.data)).toEqual(indices.flat().flatMap((index) => palette[index]));
  });

  it('reads a 1-bit palette over a byte boundary', () => {
    // 10 pixels a row take 2 bytes, padded to 4.
    const palette = [
      [0, 0, 0],
      [255, 128, 1],
    ] as const;
    const bits = [
      [1, 0, 1, 1, 0, 0, 0, 1, 1, 0],
      [0, 1, 0, 0, 1, 1, 1, 0, 0, 1],
    ];
    const bytes = buildBmp({ width: 10, height: 2, bitsPerPixel: 1, palette, pixel: (x, y) => bits[y][x] });
    const pixels = decodeBmp(bytes);
    expect(pixels.width).toBe(10);
    expect(Array.from(pixels.data)).toEqual(bits.flat().flatMap((bit) => palette[bit]));
  });

  it('uses the full palette when the color count is 0', () => {
    const bytes = buildBmp({ width: 2, height: 1, bitsPerPixel: 1, palette: [[1, 2, 3], [4, 5, 6]], pixel: (x) => x });
    new DataView(bytes.buffer).setUint32(46, 0, true);
    expect(Array.from(decodeBmp(bytes).data)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('reads a last row without padding', () => {
    const bytes = buildBmp({ width: WIDTH, height: HEIGHT, bitsPerPixel: 24, topDown: true, pixel: patternColor });
    expect(decodeBmp(bytes.subarray(0, bytes.length - 1)).data).toEqual(expectedPattern(3));
  });

  it('is reached through decodeImage for bytes and ArrayBuffer', async () => {
    const bytes = buildBmp({ width: WIDTH, height: HEIGHT, bitsPerPixel: 24, pixel: patternColor });
    const fromBytes = await decodeImage(bytes);
    expect(fromBytes.data).toEqual(expectedPattern(3));
    const copy = bytes.slice();
    const fromArrayBuffer = await decodeImage(copy.buffer);
    expect(fromArrayBuffer.data).toEqual(expectedPattern(3));
  });
});

describe('decodeBmp errors', () => {
  const valid = (): Uint8Array => buildBmp({ width: WIDTH, height: HEIGHT, bitsPerPixel: 24, pixel: patternColor });

  it('rejects truncated pixel data', () => {
    const bytes = valid();
    expect(() => decodeBmp(bytes.subarray(0, bytes.length - 20), '/photos/cut.bmp')).toThrow(
      'Failed to decode image /photos/cut.bmp: the BMP data is truncated: reading 3 rows of 15 bytes from ' +
        `offset 54 requires 101 bytes, but the file has ${bytes.length - 20}; re-export or re-download the file.`,
    );
  });

  it('rejects a truncated header', () => {
    expect(() => decodeBmp(valid().subarray(0, 30))).toThrow(
      'Failed to decode image buffer: the BMP data is truncated: reading the header requires 54 bytes, but the file has 30',
    );
  });

  it('rejects RLE compression', () => {
    const bytes = buildBmp({
      width: 2,
      height: 2,
      bitsPerPixel: 8,
      compression: BI_RLE8,
      palette: [[0, 0, 0]],
      pixel: () => 0,
    });
    expect(() => decodeBmp(bytes)).toThrow(
      'Failed to decode image buffer: the BMP uses RLE compression (BI_RLE8), which this decoder does not ' +
        'support; convert the file to an uncompressed 24-bit BMP or to PNG.',
    );
  });

  it('rejects zero width', () => {
    const bytes = valid();
    new DataView(bytes.buffer).setInt32(18, 0, true);
    expect(() => decodeBmp(bytes)).toThrow('the BMP width must be a positive number of pixels, but got 0.');
  });

  it('rejects zero height', () => {
    const bytes = valid();
    new DataView(bytes.buffer).setInt32(22, 0, true);
    expect(() => decodeBmp(bytes)).toThrow('the BMP height must be nonzero, but got 0.');
  });

  it('rejects an unsupported bit depth', () => {
    const bytes = valid();
    new DataView(bytes.buffer).setUint16(28, 2, true);
    expect(() => decodeBmp(bytes)).toThrow('the BMP bit depth must be one of 1, 4, 8, 16, 24, 32 for BI_RGB, but got 2.');
  });

  it('rejects an OS/2 header', () => {
    const bytes = valid();
    new DataView(bytes.buffer).setUint32(14, 12, true);
    expect(() => decodeBmp(bytes)).toThrow('the BMP uses an OS/2 header (12 bytes), which this decoder does not support');
  });

  it('rejects a palette index past the palette', () => {
    const bytes = buildBmp({ width: 2, height: 1, bitsPerPixel: 8, palette: [[9, 9, 9]], pixel: (x) => x });
    expect(() => decodeBmp(bytes)).toThrow('the BMP pixel (1, 0) has palette index 1, but the palette has only 1 colors.');
  });

  it('rejects a mask with a gap', () => {
    const bytes = buildBmp({
      width: 1,
      height: 1,
      bitsPerPixel: 32,
      compression: BI_BITFIELDS,
      masks: [0x00ff00ff, 0x0000ff00, 0x000000ff],
      pixel: () => 0,
    });
    expect(() => decodeBmp(bytes)).toThrow(
      'the BMP red mask must be one nonzero run of bits inside a 32-bit pixel, but got 0x00ff00ff.',
    );
  });

  it('rejects a missing signature', () => {
    const bytes = valid();
    bytes[0] = 0x41;
    expect(() => decodeBmp(bytes)).toThrow('the BMP signature is missing: a BMP file starts with "BM".');
  });
});
