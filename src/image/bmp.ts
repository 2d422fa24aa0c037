/**
 * A BMP decoder in plain TypeScript, so it runs in browsers and edge runtimes and in
 * Node builds of sharp that lack a BMP loader.
 *
 * Supported: BITMAPINFOHEADER (40 bytes) and the later V2, V3, V4 and V5 headers
 * (52, 56, 108 and 124 bytes); 1-, 4- and 8-bit palettes; 16- and 32-bit BI_RGB and
 * BI_BITFIELDS (and BI_ALPHABITFIELDS); 24-bit BI_RGB; bottom-up and top-down rows.
 * Rejected with an error: OS/2 headers, RLE, embedded JPEG or PNG, and other depths.
 */
import { decodeError } from './errors.js';
import type { PixelData } from './types.js';

const FILE_HEADER_BYTES = 14;
const INFO_HEADER_BYTES = 40;
const SUPPORTED_HEADER_BYTES = new Set([40, 52, 56, 108, 124]);

const BI_RGB = 0;
const BI_RLE8 = 1;
const BI_RLE4 = 2;
const BI_BITFIELDS = 3;
const BI_JPEG = 4;
const BI_PNG = 5;
const BI_ALPHABITFIELDS = 6;

const REEXPORT_HINT = 'convert the file to an uncompressed 24-bit BMP or to PNG';

/** One channel of a BI_BITFIELDS pixel: where its bits sit and how to widen them to 8 bits. */
interface ChannelMask {
  mask: number;
  shift: number;
  maxValue: number;
}

function parseChannelMask(mask: number): ChannelMask | undefined {
  if (mask === 0) return undefined;
  let shift = 0;
  while (((mask >>> shift) & 1) === 0) shift++;
  const maxValue = mask >>> shift;
  // A contiguous mask shifted down is 2^bits - 1, so adding 1 leaves a single set bit.
  if ((maxValue & (maxValue + 1)) !== 0) return undefined;
  return { mask, shift, maxValue };
}

function readChannel(pixel: number, channel: ChannelMask): number {
  const value = (pixel & channel.mask) >>> channel.shift;
  if (channel.maxValue === 255) return value;
  return Math.round((value * 255) / channel.maxValue);
}

/**
 * Decodes a whole BMP file. Returns RGB pixels, or RGBA when the file has an alpha
 * bit mask. `path` only names the file in error messages.
 */
export function decodeBmp(bytes: Uint8Array, path?: string): PixelData {
  const fail = (reason: string): never => {
    throw decodeError(path, `the BMP ${reason}.`);
  };
  const truncated = (part: string, needed: number): never =>
    fail(
      `data is truncated: reading ${part} requires ${needed} bytes, but the file has ${bytes.length}; ` +
        're-export or re-download the file',
    );

  if (bytes.length < FILE_HEADER_BYTES + 4) truncated('the file header', FILE_HEADER_BYTES + 4);
  if (bytes[0] !== 0x42 || bytes[1] !== 0x4d) fail('signature is missing: a BMP file starts with "BM"');

  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const pixelOffset = view.getUint32(10, true);
  const headerBytes = view.getUint32(14, true);

  if (headerBytes === 12 || headerBytes === 64) {
    fail(`uses an OS/2 header (${headerBytes} bytes), which this decoder does not support; ${REEXPORT_HINT}`);
  }
  if (!SUPPORTED_HEADER_BYTES.has(headerBytes)) {
    fail(`header size must be 40, 52, 56, 108 or 124 bytes, but got ${headerBytes}; ${REEXPORT_HINT}`);
  }
  if (bytes.length < FILE_HEADER_BYTES + headerBytes) truncated('the header', FILE_HEADER_BYTES + headerBytes);

  const width = view.getInt32(18, true);
  const signedHeight = view.getInt32(22, true);
  const planes = view.getUint16(26, true);
  const bitsPerPixel = view.getUint16(28, true);
  const compression = view.getUint32(30, true);
  const colorsUsed = view.getUint32(46, true);

  if (width <= 0) fail(`width must be a positive number of pixels, but got ${width}`);
  if (signedHeight === 0) fail('height must be nonzero, but got 0');
  if (planes !== 1) fail(`plane count must be 1, but got ${planes}`);

  if (compression === BI_RLE8 || compression === BI_RLE4) {
    const name = compression === BI_RLE8 ? 'BI_RLE8' : 'BI_RLE4';
    fail(`uses RLE compression (${name}), which this decoder does not support; ${REEXPORT_HINT}`);
  }
  if (compression === BI_JPEG || compression === BI_PNG) {
    const name = compression === BI_JPEG ? 'JPEG (BI_JPEG)' : 'PNG (BI_PNG)';
    fail(`embeds a ${name} image, which this decoder does not support; ${REEXPORT_HINT}`);
  }
  if (compression !== BI_RGB && compression !== BI_BITFIELDS && compression !== BI_ALPHABITFIELDS) {
    fail(`compression must be BI_RGB (0), BI_BITFIELDS (3) or BI_ALPHABITFIELDS (6), but got ${compression}`);
  }

  const usesBitfields = compression !== BI_RGB;
  const supportedDepths = usesBitfields ? [16, 32] : [1, 4, 8, 16, 24, 32];
  if (!supportedDepths.includes(bitsPerPixel)) {
    const codec = usesBitfields ? 'BI_BITFIELDS' : 'BI_RGB';
    fail(`bit depth must be one of ${supportedDepths.join(', ')} for ${codec}, but got ${bitsPerPixel}`);
  }

  // Rows run bottom to top unless the height is negative.
  const topDown = signedHeight < 0;
  const height = Math.abs(signedHeight);
  const rowStrideBytes = Math.floor((bitsPerPixel * width + 31) / 32) * 4;
  const rowDataBytes = Math.ceil((bitsPerPixel * width) / 8);
  // The last row may omit its padding, as some writers do.
  const pixelEnd = pixelOffset + rowStrideBytes * (height - 1) + rowDataBytes;
  if (pixelEnd > bytes.length) truncated(`${height} rows of ${rowDataBytes} bytes from offset ${pixelOffset}`, pixelEnd);

  const rowOffset = (y: number): number => pixelOffset + rowStrideBytes * (topDown ? y : height - 1 - y);

  if (bitsPerPixel <= 8) {
    return decodePalette(bytes, { width, height, bitsPerPixel, headerBytes, colorsUsed, rowOffset }, fail, truncated);
  }
  if (bitsPerPixel === 24) {
    const data = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y++) {
      let source = rowOffset(y);
      let target = y * width * 3;
      for (let x = 0; x < width; x++) {
        data[target] = bytes[source + 2];
        data[target + 1] = bytes[source + 1];
        data[target + 2] = bytes[source];
        source += 3;
        target += 3;
      }
    }
    return { data, width, height, channels: 3 };
  }

  const masks = readMasks(view, { bitsPerPixel, compression, headerBytes }, fail, truncated);
  return decodeMasked(view, { width, height, bitsPerPixel, rowOffset }, masks);
}

interface PaletteLayout {
  width: number;
  height: number;
  bitsPerPixel: number;
  headerBytes: number;
  colorsUsed: number;
  rowOffset: (y: number) => number;
}

function decodePalette(
  bytes: Uint8Array,
  layout: PaletteLayout,
  fail: (reason: string) => never,
  truncated: (part: string, needed: number) => never,
): PixelData {
  const { width, height, bitsPerPixel, headerBytes, colorsUsed, rowOffset } = layout;

  // Entries are 4 bytes (blue, green, red, reserved) and follow the header.
  const maxColors = 1 << bitsPerPixel;
  const colorCount = colorsUsed === 0 ? maxColors : Math.min(colorsUsed, maxColors);
  const paletteOffset = FILE_HEADER_BYTES + headerBytes;
  const paletteEnd = paletteOffset + colorCount * 4;
  if (paletteEnd > bytes.length) truncated(`a palette of ${colorCount} colors`, paletteEnd);

  const indexMask = maxColors - 1;
  const pixelsPerByte = 8 / bitsPerPixel;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const row = rowOffset(y);
    let target = y * width * 3;
    for (let x = 0; x < width; x++) {
      const byte = bytes[row + Math.floor(x / pixelsPerByte)];
      // The leftmost pixel sits in the most significant bits of its byte.
      const bitShift = 8 - bitsPerPixel * ((x % pixelsPerByte) + 1);
      const index = (byte >> bitShift) & indexMask;
      if (index >= colorCount) {
        fail(`pixel (${x}, ${y}) has palette index ${index}, but the palette has only ${colorCount} colors`);
      }
      const entry = paletteOffset + index * 4;
      data[target] = bytes[entry + 2];
      data[target + 1] = bytes[entry + 1];
      data[target + 2] = bytes[entry];
      target += 3;
    }
  }
  return { data, width, height, channels: 3 };
}

interface PixelMasks {
  red: ChannelMask;
  green: ChannelMask;
  blue: ChannelMask;
  alpha: ChannelMask | undefined;
}

function readMasks(
  view: DataView,
  layout: { bitsPerPixel: number; compression: number; headerBytes: number },
  fail: (reason: string) => never,
  truncated: (part: string, needed: number) => never,
): PixelMasks {
  const { bitsPerPixel, compression, headerBytes } = layout;

  let red: number;
  let green: number;
  let blue: number;
  let alpha = 0;
  if (compression === BI_RGB) {
    // BI_RGB fixes the layout: 5-5-5 for 16 bits, and 8-8-8 with an unused top byte for 32 bits.
    [red, green, blue] = bitsPerPixel === 16 ? [0x7c00, 0x03e0, 0x001f] : [0xff0000, 0x00ff00, 0x0000ff];
  } else {
    // V2 and later headers contain the masks. With a 40-byte header they follow it,
    // three of them for BI_BITFIELDS and four for BI_ALPHABITFIELDS.
    const maskOffset = FILE_HEADER_BYTES + INFO_HEADER_BYTES;
    const hasAlphaMask = compression === BI_ALPHABITFIELDS || headerBytes >= 56;
    const maskEnd = maskOffset + (hasAlphaMask ? 16 : 12);
    if (maskEnd > view.byteLength) truncated('the color masks', maskEnd);
    red = view.getUint32(maskOffset, true);
    green = view.getUint32(maskOffset + 4, true);
    blue = view.getUint32(maskOffset + 8, true);
    if (hasAlphaMask) alpha = view.getUint32(maskOffset + 12, true);
  }

  const pixelMask = bitsPerPixel === 32 ? 0xffffffff : (1 << bitsPerPixel) - 1;
  const parse = (name: string, mask: number): ChannelMask => {
    const channel = parseChannelMask(mask);
    if (channel === undefined || (mask & ~pixelMask) !== 0) {
      const hex = `0x${(mask >>> 0).toString(16).padStart(8, '0')}`;
      fail(`${name} mask must be one nonzero run of bits inside a ${bitsPerPixel}-bit pixel, but got ${hex}`);
    }
    return channel as ChannelMask;
  };
  return {
    red: parse('red', red),
    green: parse('green', green),
    blue: parse('blue', blue),
    alpha: alpha === 0 ? undefined : parse('alpha', alpha),
  };
}

function decodeMasked(
  view: DataView,
  layout: { width: number; height: number; bitsPerPixel: number; rowOffset: (y: number) => number },
  masks: PixelMasks,
): PixelData {
  const { width, height, bitsPerPixel, rowOffset } = layout;
  const channels = masks.alpha === undefined ? 3 : 4;
  const bytesPerPixel = bitsPerPixel / 8;
  const data = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    let source = rowOffset(y);
    let target = y * width * channels;
    for (let x = 0; x < width; x++) {
      const pixel = bytesPerPixel === 4 ? view.getUint32(source, true) : view.getUint16(source, true);
      data[target] = readChannel(pixel, masks.red);
      data[target + 1] = readChannel(pixel, masks.green);
      data[target + 2] = readChannel(pixel, masks.blue);
      if (masks.alpha !== undefined) data[target + 3] = readChannel(pixel, masks.alpha);
      source += bytesPerPixel;
      target += channels;
    }
  }
  return { data, width, height, channels };
}
