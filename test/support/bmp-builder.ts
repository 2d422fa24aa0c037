/**
 * Writes small BMP files byte by byte, so decoder tests know every pixel and every
 * header field. Row padding bytes are filled with 0xee, which a correct decoder ignores.
 */

export const BI_RGB = 0;
export const BI_RLE8 = 1;
export const BI_BITFIELDS = 3;
export const BI_ALPHABITFIELDS = 6;

export interface BmpSpec {
  width: number;
  /** Image height in pixels; the builder negates it in the header when `topDown` is set. */
  height: number;
  bitsPerPixel: number;
  topDown?: boolean;
  compression?: number;
  /** DIB header size: 40 (BITMAPINFOHEADER), 52, 56, 108 or 124 (BITMAPV5HEADER). */
  headerBytes?: number;
  /** Palette entries as [red, green, blue], for 1-, 4- and 8-bit files. */
  palette?: ReadonlyArray<readonly [number, number, number]>;
  /** Red, green, blue and optional alpha masks, for BI_BITFIELDS and BI_ALPHABITFIELDS. */
  masks?: readonly number[];
  /**
   * Value of the pixel at column x and row y, counted from the top: a palette index
   * for 1 to 8 bits, [red, green, blue] for 24 bits, and the raw little-endian pixel
   * word for 16 and 32 bits.
   */
  pixel: (x: number, y: number) => number | readonly number[];
}

/** Returns the bytes of a BMP file built from `spec`. */
export function buildBmp(spec: BmpSpec): Uint8Array {
  const { width, height, bitsPerPixel } = spec;
  const headerBytes = spec.headerBytes ?? 40;
  const compression = spec.compression ?? BI_RGB;
  const palette = spec.palette ?? [];
  const masks = spec.masks ?? [];

  // With a 40-byte header the masks follow it. Later headers contain them.
  const masksAfterHeader = headerBytes === 40 ? masks.length * 4 : 0;
  const paletteOffset = 14 + headerBytes + masksAfterHeader;
  const pixelOffset = paletteOffset + palette.length * 4;
  const rowStrideBytes = Math.floor((bitsPerPixel * width + 31) / 32) * 4;
  const fileBytes = pixelOffset + rowStrideBytes * height;

  const bytes = new Uint8Array(fileBytes);
  const view = new DataView(bytes.buffer);
  bytes[0] = 0x42;
  bytes[1] = 0x4d;
  view.setUint32(2, fileBytes, true);
  view.setUint32(10, pixelOffset, true);

  view.setUint32(14, headerBytes, true);
  view.setInt32(18, width, true);
  view.setInt32(22, spec.topDown ? -height : height, true);
  view.setUint16(26, 1, true);
  view.setUint16(28, bitsPerPixel, true);
  view.setUint32(30, compression, true);
  view.setUint32(34, rowStrideBytes * height, true);
  view.setInt32(38, 2835, true);
  view.setInt32(42, 2835, true);
  view.setUint32(46, palette.length, true);
  masks.forEach((mask, i) => view.setUint32(54 + i * 4, mask, true));

  palette.forEach(([red, green, blue], i) => {
    const entry = paletteOffset + i * 4;
    bytes[entry] = blue;
    bytes[entry + 1] = green;
    bytes[entry + 2] = red;
  });

  for (let y = 0; y < height; y++) {
    const fileRow = spec.topDown ? y : height - 1 - y;
    const rowStart = pixelOffset + fileRow * rowStrideBytes;
    bytes.fill(0xee, rowStart, rowStart + rowStrideBytes);
    if (bitsPerPixel <= 8) {
      // Clear the bytes that carry pixels, because indices are OR-ed in below.
      bytes.fill(0, rowStart, rowStart + Math.ceil((bitsPerPixel * width) / 8));
    }
    for (let x = 0; x < width; x++) {
      writePixel(bytes, view, rowStart, x, bitsPerPixel, spec.pixel(x, y));
    }
  }
  return bytes;
}

function writePixel(
  bytes: Uint8Array,
  view: DataView,
  rowStart: number,
  x: number,
  bitsPerPixel: number,
  value: number | readonly number[],
): void {
  if (bitsPerPixel <= 8) {
    const pixelsPerByte = 8 / bitsPerPixel;
    const byteIndex = rowStart + Math.floor(x / pixelsPerByte);
    const shift = 8 - bitsPerPixel * ((x % pixelsPerByte) + 1);
    bytes[byteIndex] |= (value as number) << shift;
  } else if (bitsPerPixel === 24) {
    const [red, green, blue] = value as readonly number[];
    const offset = rowStart + x * 3;
    bytes[offset] = blue;
    bytes[offset + 1] = green;
    bytes[offset + 2] = red;
  } else if (bitsPerPixel === 16) {
    view.setUint16(rowStart + x * 2, value as number, true);
  } else {
    view.setUint32(rowStart + x * 4, value as number, true);
  }
}
