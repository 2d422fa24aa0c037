// Node-side behavior of the browser image inputs: Blob and File decode in Node too
// (through sharp), and the browser-only types are never mistaken for other inputs.
// test/browser/ covers the browser types in Chromium.
import sharp from 'sharp';
import { describe, expect, it, vi } from 'vitest';

import { canDecodeInBrowser, isBlob, isBrowserImageSource } from '../../src/image/browser.js';
import { decodeImage, type PixelData } from '../../src/image/index.js';

/** Builds a 5x3 RGB image with a distinct value in every byte. */
function smallImage(): PixelData {
  const data = new Uint8Array(5 * 3 * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37) % 256;
  return { data, width: 5, height: 3, channels: 3 };
}

async function pngBytes(pixels: PixelData): Promise<Uint8Array> {
  const png = await sharp(pixels.data, { raw: { width: pixels.width, height: pixels.height, channels: pixels.channels } })
    .png()
    .toBuffer();
  return new Uint8Array(png);
}

describe('Blob and File inputs in Node', () => {
  it('decodes a Blob like its bytes', async () => {
    const source = smallImage();
    const bytes = await pngBytes(source);
    const pixels = await decodeImage(new Blob([bytes], { type: 'image/png' }));
    expect(pixels.width).toBe(5);
    expect(pixels.height).toBe(3);
    expect(pixels.channels).toBe(3);
    expect(Array.from(pixels.data)).toEqual(Array.from(source.data));
  });

  it('names a File in decode errors', async () => {
    const bytes = await pngBytes(smallImage());
    const truncated = new File([bytes.subarray(0, bytes.length >> 1)], 'half.png');
    await expect(decodeImage(truncated)).rejects.toThrow('Failed to decode image half.png: the PNG data is invalid or truncated (');
  });

  it('rejects an empty Blob', async () => {
    await expect(decodeImage(new Blob([]))).rejects.toThrow('Failed to decode image buffer: the Blob is empty (0 bytes).');
  });
});

describe('browser input detection in Node', () => {
  it('has no browser decoder', () => {
    expect(canDecodeInBrowser()).toBe(false);
  });

  it('detects Blob and File only', () => {
    expect(isBlob(new Blob([]))).toBe(true);
    expect(isBlob(new File([], 'a.png'))).toBe(true);
    expect(isBlob(new Uint8Array(4))).toBe(false);
    expect(isBlob({ size: 0, type: '', arrayBuffer: () => new ArrayBuffer(0) })).toBe(false);
  });

  it('sees no browser image among other inputs', () => {
    const lookalikes: unknown[] = [
      smallImage(),
      // ImageData's fields, as a plain object.
      { data: new Uint8ClampedArray(16), width: 2, height: 2 },
      new Uint8Array(4),
      new ArrayBuffer(4),
      new Blob([]),
      'photo.jpg',
      null,
      undefined,
    ];
    for (const value of lookalikes) expect(isBrowserImageSource(value), String(value)).toBe(false);
  });

  it('explains JPEG bytes outside Node and browsers', async () => {
    const jpeg = new Uint8Array(await sharp(smallImage().data, { raw: { width: 5, height: 3, channels: 3 } }).jpeg().toBuffer());
    vi.stubGlobal('process', { ...process, versions: {} });
    try {
      await expect(decodeImage(jpeg)).rejects.toThrow(
        'Failed to decode image buffer: decoding JPEG needs sharp (Node) or createImageBitmap and a canvas (browsers), ' +
          'and this runtime has neither. Pass BMP bytes or decoded pixels ({ data, width, height, channels }) instead.',
      );
    } finally {
      vi.unstubAllGlobals();
    }
  });
});
