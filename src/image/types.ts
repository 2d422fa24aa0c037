/**
 * Decoded 8-bit pixels, interleaved, rows from top to bottom.
 * Channels: 1 gray, 2 gray and alpha, 3 RGB, 4 RGBA.
 */
export interface PixelData {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
}

/**
 * Browser image objects. All but ImageData are drawn on a canvas to read their pixels.
 * The types come from TypeScript's DOM library; at run time each is detected only
 * where the runtime defines it.
 */
export type BrowserImageSource = HTMLImageElement | HTMLCanvasElement | OffscreenCanvas | ImageBitmap | ImageData | VideoFrame;

/**
 * An image to decode: a file path (Node only), the bytes of an encoded file
 * (a whole JPEG, PNG, WebP or BMP) as a Uint8Array, ArrayBuffer, Blob or File,
 * pixels that are already decoded, or a browser image object.
 */
export type ImageInput = string | Uint8Array | ArrayBuffer | Blob | PixelData | BrowserImageSource;

/** An image for classify: an ImageInput, or a URL (an http(s), file, blob or data URL, as a string or URL object). */
export type ImageSource = ImageInput | URL;

/** Container formats that `sniffImageFormat` recognizes from magic bytes. */
export type ImageFormat = 'jpeg' | 'png' | 'webp' | 'bmp' | 'gif' | 'tiff' | 'heif' | 'avif';
