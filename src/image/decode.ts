import { decodeBmp } from './bmp.js';
import { canDecodeInBrowser, decodeBrowserImage, decodeEncodedInBrowser, isBlob, isBrowserImageSource, readBlob } from './browser.js';
import { decodeError } from './errors.js';
import { SUPPORTED_FORMATS, formatDisplayName, sniffImageFormat } from './format.js';
import { isPixelData, validatePixelData } from './pixels.js';
import type { ImageInput, PixelData } from './types.js';

function isNode(): boolean {
  const processObject = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof processObject?.versions?.node === 'string';
}

// The specifier sits in a variable so bundlers leave the Node-only module out of
// browser builds and do not try to resolve `node:fs` or sharp.
// NOTE: a bundle built for Node therefore lacks decode-node.js as well, so file paths
// and JPEG, PNG and WebP decoding work only from the unbundled package files.
const NODE_DECODER_MODULE = './decode-node.js';

function loadNodeDecoder(): Promise<typeof import('./decode-node.js')> {
  return import(/* @vite-ignore */ /* webpackIgnore: true */ NODE_DECODER_MODULE);
}

/**
 * Decodes an image to 8-bit pixels.
 *
 * - `PixelData`: validated and returned unchanged.
 * - `Uint8Array`, `ArrayBuffer`, `Blob` or `File`: the bytes of a whole file. The format
 *   comes from the magic bytes: BMP is decoded here in any runtime, and JPEG, PNG and
 *   WebP through sharp in Node or createImageBitmap in browsers, with the EXIF
 *   orientation applied.
 * - `string`: a file path, Node only.
 * - An image element, canvas, OffscreenCanvas, ImageBitmap, ImageData or VideoFrame
 *   (browsers): RGBA pixels read through a canvas.
 *
 * Errors name the file (or "image buffer"), the format and what is wrong.
 */
export async function decodeImage(input: ImageInput): Promise<PixelData> {
  if (typeof input === 'string') {
    if (!isNode()) {
      throw new Error(
        `Cannot read image ${input}: file paths work only in Node. Pass the file bytes (Uint8Array or ` +
          'ArrayBuffer) or decoded pixels ({ data, width, height, channels }) instead.',
      );
    }
    const nodeDecoder = await loadNodeDecoder();
    const bytes = await nodeDecoder.readImageFile(input);
    return decodeBytes(bytes, input);
  }
  if (input instanceof ArrayBuffer) return decodeBytes(new Uint8Array(input), undefined);
  if (input instanceof Uint8Array) return decodeBytes(input, undefined);
  if (isBlob(input)) {
    const { bytes, name } = await readBlob(input);
    return decodeBytes(bytes, name);
  }
  // Before isPixelData, because ImageData also has a data field.
  if (isBrowserImageSource(input)) return decodeBrowserImage(input);
  if (isPixelData(input)) {
    validatePixelData(input);
    return input;
  }
  throw new TypeError(
    'Invalid image input: expected a file path, a Uint8Array, ArrayBuffer or Blob of file bytes, a pixel object ' +
      '({ data, width, height, channels }) or a browser image (img element, canvas, ImageBitmap, ImageData, ' +
      `VideoFrame), but got ${input === null ? 'null' : typeof input}.`,
  );
}

/** Decodes the bytes of an encoded image; name (a path or URL) appears in error messages. */
export function decodeImageBytes(bytes: Uint8Array, name?: string): Promise<PixelData> {
  return decodeBytes(bytes, name);
}

async function decodeBytes(bytes: Uint8Array, path: string | undefined): Promise<PixelData> {
  if (bytes.length === 0) throw decodeError(path, 'the data is empty (0 bytes).');

  const format = sniffImageFormat(bytes);
  if (format === undefined) {
    const head = Array.from(bytes.subarray(0, 8), (byte) => byte.toString(16).padStart(2, '0')).join(' ');
    throw decodeError(
      path,
      `the format is not recognized (first bytes: ${head}); supported formats are ${SUPPORTED_FORMATS.join(', ')}.`,
    );
  }
  if (format === 'bmp') return decodeBmp(bytes, path);
  if (format !== 'jpeg' && format !== 'png' && format !== 'webp') {
    throw decodeError(
      path,
      `the format is ${formatDisplayName(format)}, which is not supported; supported formats are ` +
        `${SUPPORTED_FORMATS.join(', ')}. Convert the image to one of them.`,
    );
  }
  if (!isNode()) {
    if (canDecodeInBrowser()) return decodeEncodedInBrowser(bytes, format, path);
    throw decodeError(
      path,
      `decoding ${formatDisplayName(format)} needs sharp (Node) or createImageBitmap and a canvas (browsers), and ` +
        'this runtime has neither. Pass BMP bytes or decoded pixels ({ data, width, height, channels }) instead.',
    );
  }
  const nodeDecoder = await loadNodeDecoder();
  return nodeDecoder.decodeWithSharp(bytes, format, path);
}
