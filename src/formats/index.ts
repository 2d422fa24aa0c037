import type { ModelDescription } from '../graph/spec.js';
import { importModelFile, isModelFile } from './safetensors/index.js';
import { isTflite, isTfjsModelJson, looksLikeJsonObject } from './sniff.js';
import { importTfjs, parseModelJson, type ShardReader } from './tfjs/index.js';
import { importTflite } from './tflite/index.js';

/** The model file formats loadModel reads, for error messages. */
export const SUPPORTED_MODEL_FORMATS = ['TFLite (.tflite)', 'TF.js LayersModel (model.json with its weight shards)', 'efficientnet-wasm (.safetensors written by effnet convert)'];

export interface ImportModelOptions {
  /** Reads a file next to the model file (the weight shards of a TF.js model.json). */
  readRelative?: ShardReader;
}

/** Detects a model file's format from its bytes and runs the matching importer. */
export async function importModel(bytes: Uint8Array, source: string, options: ImportModelOptions = {}): Promise<ModelDescription> {
  if (bytes.length === 0) {
    const subject = source === 'model bytes' ? 'the model bytes are empty' : `the file ${source} is empty`;
    throw new Error(`Failed to load model: ${subject}. Pass a whole model file.`);
  }
  if (isTflite(bytes)) return importTflite(bytes, { source });
  if (isModelFile(bytes)) return importModelFile(bytes, { source });
  if (looksLikeJsonObject(bytes)) {
    const json = parseModelJson(bytes, source);
    if (isTfjsModelJson(json)) return importTfjs(json, { source, readShard: options.readRelative ?? null });
    const keys = typeof json === 'object' && json !== null ? Object.keys(json).slice(0, 8).join(', ') : '';
    throw new Error(
      `Failed to load model ${source}: it is a JSON file, but not a TF.js LayersModel, which has modelTopology and ` +
        `weightsManifest (its fields are ${keys || 'none'}). Supported formats: ${SUPPORTED_MODEL_FORMATS.join(', ')}.`,
    );
  }
  const head = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new Error(
    `Failed to load model ${source}: unrecognized file format (first bytes ${head}). ` +
      `Supported formats: ${SUPPORTED_MODEL_FORMATS.join(', ')}.`,
  );
}
