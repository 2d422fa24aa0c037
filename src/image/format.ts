import type { ImageFormat } from './types.js';

/** Formats that `decodeImage` decodes: BMP in pure TypeScript, the others through sharp in Node or the browser's decoder. */
export const SUPPORTED_FORMATS = ['JPEG', 'PNG', 'WebP', 'BMP'] as const;

function startsWith(bytes: Uint8Array, offset: number, signature: readonly number[]): boolean {
  if (bytes.length < offset + signature.length) return false;
  for (let i = 0; i < signature.length; i++) {
    if (bytes[offset + i] !== signature[i]) return false;
  }
  return true;
}

function ascii(text: string): number[] {
  return Array.from(text, (character) => character.charCodeAt(0));
}

/**
 * Detects the container format from the first bytes of a file, ignoring any file name.
 * Returns `undefined` for bytes that match no known signature.
 */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | undefined {
  if (startsWith(bytes, 0, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith(bytes, 0, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (startsWith(bytes, 0, ascii('RIFF')) && startsWith(bytes, 8, ascii('WEBP'))) return 'webp';
  if (startsWith(bytes, 0, ascii('BM'))) return 'bmp';
  if (startsWith(bytes, 0, ascii('GIF87a')) || startsWith(bytes, 0, ascii('GIF89a'))) return 'gif';
  if (startsWith(bytes, 0, [0x49, 0x49, 0x2a, 0x00]) || startsWith(bytes, 0, [0x4d, 0x4d, 0x00, 0x2a])) return 'tiff';
  if (startsWith(bytes, 4, ascii('ftyp'))) {
    if (startsWith(bytes, 8, ascii('avif')) || startsWith(bytes, 8, ascii('avis'))) return 'avif';
    if (startsWith(bytes, 8, ascii('heic')) || startsWith(bytes, 8, ascii('heix')) || startsWith(bytes, 8, ascii('mif1'))) {
      return 'heif';
    }
  }
  return undefined;
}

/** Returns the usual display name of a format, as in "JPEG" or "WebP". */
export function formatDisplayName(format: ImageFormat): string {
  switch (format) {
    case 'webp':
      return 'WebP';
    case 'heif':
      return 'HEIF';
    case 'avif':
      return 'AVIF';
    default:
      return format.toUpperCase();
  }
}
