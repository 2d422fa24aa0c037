/**
 * Node-only decoding: file reads and sharp. Only `decode.ts` loads this module, through
 * a dynamic import, so browser bundles never include `node:fs` or sharp.
 */
import { readFile } from 'node:fs/promises';

import { decodeError } from './errors.js';
import { formatDisplayName } from './format.js';
import type { ImageFormat, PixelData } from './types.js';

type SharpModule = typeof import('sharp');
type SharpFactory = SharpModule['default'];

let sharpFactory: Promise<SharpFactory> | undefined;

/** Reads a whole image file. Throws "Image file not found: <path>" when it does not exist. */
export async function readImageFile(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new Error(`Image file not found: ${path}`, { cause: error });
    }
    if (code === 'EISDIR') {
      throw new Error(`Failed to read image ${path}: the path is a directory; pass the path of an image file.`, {
        cause: error,
      });
    }
    throw new Error(`Failed to read image ${path}: ${(error as Error).message}`, { cause: error });
  }
}

function loadSharp(): Promise<SharpFactory> {
  sharpFactory ??= import('sharp').then(
    (module: SharpModule) => module.default,
    (error: unknown) => {
      sharpFactory = undefined;
      throw new Error(
        'Decoding JPEG, PNG and WebP in Node needs the optional dependency sharp, which failed to load ' +
          `(${(error as Error).message}). Run \`npm install sharp\` (in Deno, also allow --allow-env and --allow-ffi), ` +
          'or decode the image yourself and pass a pixel object ({ data, width, height, channels }).',
        { cause: error },
      );
    },
  );
  return sharpFactory;
}

/**
 * Rewrites a libvips message as the reason part of a decode error. libvips reports
 * truncation as "premature end of ..." for JPEG and as a bare "read error" for PNG.
 */
function describeSharpFailure(format: ImageFormat, message: string): string {
  const name = formatDisplayName(format);
  // sharp prefixes "Input buffer has corrupt header: ", which is not specific to the
  // header, so only the libvips part after it is kept.
  const detail = message.split('\n')[0].replace(/^Input (buffer|file)[^:]*: /, '').trim();
  if (/premature end|truncated|unexpected end/i.test(message)) {
    return `the ${name} data is truncated (${detail}); re-export or re-download the file.`;
  }
  return `the ${name} data is invalid or truncated (${detail}); re-export or re-download the file.`;
}

/**
 * Decodes JPEG, PNG or WebP bytes with sharp and applies the EXIF orientation.
 * Returns 8-bit pixels with the channel count that sharp reports (3 or 4 for the
 * formats above, since sharp converts gray to sRGB).
 */
export async function decodeWithSharp(bytes: Uint8Array, format: ImageFormat, path: string | undefined): Promise<PixelData> {
  const sharp = await loadSharp();
  try {
    // failOn 'error' aborts on decoder errors and on truncation. With 'none', sharp
    // 0.35 decodes a JPEG cut in half without error and fills the missing rows with 128.
    const { data, info } = await sharp(bytes, { failOn: 'error' })
      .rotate()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    const channels = info.channels;
    if (channels < 1 || channels > 4) {
      throw decodeError(path, `sharp returned ${channels} channels, but 1 to 4 are supported.`);
    }
    const pixels = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return { data: pixels, width: info.width, height: info.height, channels: channels as PixelData['channels'] };
  } catch (error) {
    if (error instanceof Error && error.name === 'ImageDecodeError') throw error;
    throw decodeError(path, describeSharpFailure(format, (error as Error).message), error);
  }
}
