// Format checks on a model's first bytes or on a source object. They import no
// importer, so loadModel loads only the importer that a file needs.
import type { TfjsModelFiles } from './tfjs/index.js';

/** The FlatBuffer file identifier of TFLite models, at bytes 4..8. */
export const TFLITE_IDENTIFIER = 'TFL3';

/** Returns true when the bytes carry the TFLite file identifier "TFL3" at bytes 4..8. */
export function isTflite(bytes: Uint8Array): boolean {
  return (
    bytes.length >= 8 &&
    bytes[4] === TFLITE_IDENTIFIER.charCodeAt(0) &&
    bytes[5] === TFLITE_IDENTIFIER.charCodeAt(1) &&
    bytes[6] === TFLITE_IDENTIFIER.charCodeAt(2) &&
    bytes[7] === TFLITE_IDENTIFIER.charCodeAt(3)
  );
}

/** Returns true for a parsed model.json of a TF.js LayersModel. */
export function isTfjsModelJson(value: unknown): value is { modelTopology: unknown; weightsManifest: unknown } {
  return typeof value === 'object' && value !== null && 'modelTopology' in value && 'weightsManifest' in value;
}

/** Returns true for the in-memory source form { modelJson, weights }. */
export function isTfjsModelFiles(value: unknown): value is TfjsModelFiles {
  return typeof value === 'object' && value !== null && 'modelJson' in value && 'weights' in value;
}

/** Returns true when the bytes start (after whitespace and a UTF-8 byte order mark) with '{'. */
export function looksLikeJsonObject(bytes: Uint8Array): boolean {
  let i = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x09 || bytes[i] === 0x0a || bytes[i] === 0x0d)) i++;
  return bytes[i] === 0x7b;
}
