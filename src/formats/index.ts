import type { ModelDescription } from '../graph/spec.js';
import { importModelFile, isModelFile } from './safetensors/index.js';
import { importTflite, isTflite } from './tflite/index.js';

/** The model file formats loadModel reads, for error messages. */
export const SUPPORTED_MODEL_FORMATS = ['TFLite (.tflite)', 'efficientnet-wasm (.safetensors written by effnet convert)'];

/** Detects a model file's format from its bytes and runs the matching importer. */
export async function importModel(bytes: Uint8Array, source: string): Promise<ModelDescription> {
  if (bytes.length === 0) {
    const subject = source === 'model bytes' ? 'the model bytes are empty' : `the file ${source} is empty`;
    throw new Error(`Failed to load model: ${subject}. Pass a whole model file.`);
  }
  if (isTflite(bytes)) return importTflite(bytes, { source });
  if (isModelFile(bytes)) return importModelFile(bytes, { source });
  const head = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new Error(
    `Failed to load model ${source}: unrecognized file format (first bytes ${head}). ` +
      `Supported formats: ${SUPPORTED_MODEL_FORMATS.join(', ')}.`,
  );
}
