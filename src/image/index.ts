/**
 * Image input: decoding, RGB conversion, resizing and normalization to a float32
 * NHWC tensor. Browser-safe: Node-only code loads only through dynamic imports.
 */
export type { BrowserImageSource, ImageFormat, ImageInput, ImageSource, PixelData } from './types.js';
export { ImageDecodeError } from './errors.js';
export { decodeImage, decodeImageBytes } from './decode.js';
export { decodeBmp } from './bmp.js';
export { SUPPORTED_FORMATS, sniffImageFormat } from './format.js';
export { toRgb, validatePixelData } from './pixels.js';
export { resizeBilinear } from './resize.js';
export { centerCropRegion, preprocess, preprocessInto } from './preprocess.js';
export type { CropRegion, PreprocessOptions } from './preprocess.js';
