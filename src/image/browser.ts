/**
 * Browser decoding: image elements, canvases, ImageBitmap, ImageData and VideoFrame
 * objects, and JPEG, PNG and WebP bytes through createImageBitmap. Most of these
 * types do not exist in Node, so every check looks the constructor up on globalThis first.
 */
import { ImageDecodeError, decodeError } from './errors.js';
import { formatDisplayName } from './format.js';
import type { BrowserImageSource, ImageFormat, PixelData } from './types.js';

/**
 * Options for createImageBitmap that keep the stored sample values: no color
 * management (PIL and TensorFlow's decoders ignore embedded ICC profiles too) and
 * no premultiplication. The EXIF orientation is applied, as sharp does in Node.
 */
const BITMAP_OPTIONS: ImageBitmapOptions = {
  colorSpaceConversion: 'none',
  premultiplyAlpha: 'none',
  imageOrientation: 'from-image',
};

const MIME_TYPES: Partial<Record<ImageFormat, string>> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
};

type ScratchCanvas = OffscreenCanvas | HTMLCanvasElement;
type Context2D = OffscreenCanvasRenderingContext2D | CanvasRenderingContext2D;

/** Returns true when value is an instance of the global class `name`, which may not exist in this runtime. */
function isInstanceOf(value: unknown, name: string): boolean {
  const constructor = (globalThis as Record<string, unknown>)[name];
  return typeof constructor === 'function' && value instanceof (constructor as abstract new (...args: never[]) => unknown);
}

/** Returns true for a Blob or File (Node 20 has both as globals too). */
export function isBlob(value: unknown): value is Blob {
  return isInstanceOf(value, 'Blob');
}

/** Returns true for an image element, canvas, OffscreenCanvas, ImageBitmap, ImageData or VideoFrame. */
export function isBrowserImageSource(value: unknown): value is BrowserImageSource {
  return (
    typeof value === 'object' &&
    value !== null &&
    (isInstanceOf(value, 'ImageData') ||
      isInstanceOf(value, 'ImageBitmap') ||
      isInstanceOf(value, 'HTMLImageElement') ||
      isInstanceOf(value, 'HTMLCanvasElement') ||
      isInstanceOf(value, 'OffscreenCanvas') ||
      isInstanceOf(value, 'VideoFrame'))
  );
}

/** Reads the bytes of a Blob or File. A File's name is returned for error messages. */
export async function readBlob(blob: Blob): Promise<{ bytes: Uint8Array; name: string | undefined }> {
  const name = isInstanceOf(blob, 'File') ? (blob as File).name : undefined;
  if (blob.size === 0) throw decodeError(name, `the ${name === undefined ? 'Blob' : 'File'} is empty (0 bytes).`);
  return { bytes: new Uint8Array(await blob.arrayBuffer()), name };
}

/** Returns true when this runtime can decode encoded images itself: createImageBitmap and a 2D canvas. */
export function canDecodeInBrowser(): boolean {
  return (
    typeof createImageBitmap === 'function' &&
    (typeof OffscreenCanvas === 'function' || typeof document !== 'undefined')
  );
}

/**
 * Decodes JPEG, PNG or WebP bytes with the browser's own decoder and returns RGBA pixels.
 * Browsers and sharp use different decoder builds, so JPEG pixels may differ slightly from
 * Node's (on the fixture photos, Chromium 156 and sharp 0.35 gave the same bytes).
 */
export async function decodeEncodedInBrowser(bytes: Uint8Array, format: ImageFormat, path: string | undefined): Promise<PixelData> {
  const name = formatDisplayName(format);
  const blob = new Blob([bytes as Uint8Array<ArrayBuffer>], { type: MIME_TYPES[format] ?? '' });
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(blob, BITMAP_OPTIONS);
  } catch (error) {
    throw decodeError(
      path,
      `the browser could not decode the ${name} data (${describeError(error)}). The file may be truncated or corrupt; ` +
        're-export or re-download it.',
      error,
    );
  }
  try {
    return readPixels(bitmap, bitmap.width, bitmap.height, `${name} image`, path);
  } finally {
    bitmap.close();
  }
}

/**
 * Reads the pixels of a browser image object as RGBA. ImageData is used as it is;
 * every other type is drawn on a scratch canvas at its natural size and read back.
 * Objects that the caller passed in are never closed or modified.
 */
export async function decodeBrowserImage(image: BrowserImageSource): Promise<PixelData> {
  if (isInstanceOf(image, 'ImageData')) return imageDataPixels(image as ImageData);

  if (isInstanceOf(image, 'HTMLImageElement')) {
    const element = image as HTMLImageElement;
    const source = element.currentSrc || element.src || undefined;
    if (!element.complete) {
      throw new ImageDecodeError(
        `Cannot read the HTMLImageElement ${source ?? '(no src)'}: it has not finished loading. ` +
          'Await img.decode() or wait for its load event before classify.',
        source,
      );
    }
    if (element.naturalWidth === 0 || element.naturalHeight === 0) {
      throw new ImageDecodeError(
        `Cannot read the HTMLImageElement ${source ?? '(no src)'}: it has no image (naturalWidth ` +
          `${element.naturalWidth}, naturalHeight ${element.naturalHeight}), because its src is empty or failed to load. ` +
          'Check the URL and wait for the load event.',
        source,
      );
    }
    return readPixels(element, element.naturalWidth, element.naturalHeight, 'HTMLImageElement', source);
  }

  if (isInstanceOf(image, 'VideoFrame')) {
    const frame = image as VideoFrame;
    // Closing a frame (or transferring it) sets its sizes to 0.
    if (frame.displayWidth === 0 || frame.displayHeight === 0) {
      throw new ImageDecodeError(
        'Cannot read the VideoFrame: it is closed (its display size is 0x0), because close() was called or it was ' +
          'transferred. Pass an open frame and close it after classify returns.',
        undefined,
      );
    }
    return readPixels(frame, frame.displayWidth, frame.displayHeight, 'VideoFrame', undefined);
  }

  // HTMLCanvasElement, OffscreenCanvas and ImageBitmap all report their size as width x height.
  const drawable = image as HTMLCanvasElement | OffscreenCanvas | ImageBitmap;
  const kind = isInstanceOf(image, 'ImageBitmap') ? 'ImageBitmap' : isInstanceOf(image, 'OffscreenCanvas') ? 'OffscreenCanvas' : 'HTMLCanvasElement';
  if (drawable.width === 0 || drawable.height === 0) {
    const size = `${drawable.width}x${drawable.height}`;
    const message =
      kind === 'ImageBitmap'
        ? `Cannot read the ImageBitmap: its size is ${size} because it was closed or transferred to another thread. ` +
          'Pass an open ImageBitmap.'
        : `Cannot read the ${kind}: its size is ${size}, but both sides must be at least 1 pixel. Set its width and ` +
          'height and draw the image on it before classify (an OffscreenCanvas also has size 0x0 after it is transferred).';
    throw new ImageDecodeError(message, undefined);
  }
  return readPixels(drawable, drawable.width, drawable.height, kind, undefined);
}

function imageDataPixels(imageData: ImageData): PixelData {
  // ImageData with a float pixel format (pixelFormat 'rgba-float16') stores a Float16Array.
  if (!(imageData.data instanceof Uint8ClampedArray)) {
    const actual = (imageData.data as object)?.constructor?.name ?? typeof imageData.data;
    throw new ImageDecodeError(
      `Cannot read the ImageData: its data must be a Uint8ClampedArray of 8-bit RGBA values, but got ${actual}. ` +
        "Create it with getImageData() or new ImageData() in the default 'rgba-unorm8' pixel format.",
      undefined,
    );
  }
  return { data: imageData.data, width: imageData.width, height: imageData.height, channels: 4 };
}

function createScratchCanvas(width: number, height: number): ScratchCanvas {
  if (typeof OffscreenCanvas === 'function') return new OffscreenCanvas(width, height);
  if (typeof document !== 'undefined') {
    const canvas = document.createElement('canvas');
    canvas.width = width;
    canvas.height = height;
    return canvas;
  }
  throw new Error(
    'Cannot read browser image pixels: this runtime has neither OffscreenCanvas nor document.createElement. ' +
      'Pass decoded pixels ({ data, width, height, channels }) instead.',
  );
}

/**
 * Draws source on a scratch canvas and reads the RGBA pixels back.
 * NOTE: a 2D canvas stores premultiplied alpha, so the RGB values of pixels with alpha
 * below 255 come back rounded (and as 0 where alpha is 0). Opaque pixels are exact.
 */
function readPixels(source: CanvasImageSource, width: number, height: number, kind: string, path: string | undefined): PixelData {
  const canvas = createScratchCanvas(width, height);
  const context = canvas.getContext('2d', { willReadFrequently: true }) as Context2D | null;
  if (!context) {
    throw new ImageDecodeError(
      `Cannot read the ${kind}: the browser returned no 2D context for a ${width}x${height} canvas, which may exceed ` +
        'its canvas size limit. Scale the image down before classify.',
      path,
    );
  }
  context.drawImage(source, 0, 0, width, height);

  let imageData: ImageData;
  try {
    imageData = context.getImageData(0, 0, width, height);
  } catch (error) {
    if ((error as { name?: unknown })?.name === 'SecurityError') {
      throw new ImageDecodeError(
        `Cannot read the pixels of the ${kind}${path === undefined ? '' : ` ${path}`}: it comes from another origin without ` +
          "CORS permission, so the browser blocks reading it. Serve the image with an 'Access-Control-Allow-Origin' " +
          "header and set img.crossOrigin = 'anonymous' before src, or fetch the bytes and pass a Blob.",
        path,
        { cause: error },
      );
    }
    throw new ImageDecodeError(`Cannot read the pixels of the ${kind}: ${describeError(error)}`, path, { cause: error });
  }
  return imageDataPixels(imageData);
}

function describeError(error: unknown): string {
  if (error instanceof Error || (typeof error === 'object' && error !== null && 'message' in error)) {
    const { name, message } = error as { name?: string; message?: string };
    return name && name !== 'Error' ? `${name}: ${message}` : String(message);
  }
  return String(error);
}
