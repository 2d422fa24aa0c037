/**
 * TensorFlow.js LayersModel importer: reads model.json (Keras 2 or Keras 3
 * topology plus the weights manifest) and its weight shards, and maps the
 * model onto the MBConv-family graph (src/graph/spec.ts).
 */
import type { ModelDescription, Normalization } from '../../graph/spec.js';
import { isTfjsModelFiles, isTfjsModelJson, looksLikeJsonObject } from '../sniff.js';
import { describeValue, TfjsFormatError } from './errors.js';
import { LayerContext, type ChannelAffine } from './layers.js';
import { mapModel } from './mapper.js';
import { flattenTopology } from './topology.js';
import { readWeights, type ShardReader } from './weights.js';

export { TfjsFormatError } from './errors.js';
export { isTfjsModelFiles, isTfjsModelJson, looksLikeJsonObject };
export type { ShardReader } from './weights.js';

/** A TF.js LayersModel held in memory: model.json and its shards keyed by the paths in weightsManifest. */
export interface TfjsModelFiles {
  modelJson: object | string | Uint8Array;
  weights: Record<string, Uint8Array | ArrayBuffer>;
}

export interface ImportTfjsOptions {
  /** File name or URL of model.json, for messages. */
  source: string;
  /** Reads a shard by its manifest path, relative to model.json; null when only the JSON bytes are known. */
  readShard: ShardReader | null;
}

/** Parses model.json given as bytes, text or an object already parsed. */
export function parseModelJson(value: object | string | Uint8Array, source: string): unknown {
  if (typeof value !== 'string' && !(value instanceof Uint8Array)) return value;
  const text = typeof value === 'string' ? value : new TextDecoder('utf-8').decode(value);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new TfjsFormatError(
      `Invalid TF.js model ${source}: model.json is not valid JSON (${(error as Error).message}). Download or export it again.`,
    );
  }
}

/** Imports a TF.js LayersModel from its parsed model.json, reading the shards through options.readShard. */
export async function importTfjs(json: unknown, options: ImportTfjsOptions): Promise<ModelDescription> {
  const { source } = options;
  if (!isTfjsModelJson(json)) {
    const keys = typeof json === 'object' && json !== null ? Object.keys(json).join(', ') || 'none' : describeValue(json);
    throw new TfjsFormatError(
      `Invalid TF.js model ${source}: model.json must have modelTopology and weightsManifest, but its fields are ${keys}. ` +
        'Pass the model.json that the TensorFlow.js converter or model.save() wrote.',
    );
  }
  const format = (json as { format?: unknown }).format;
  if (format === 'graph-model') {
    throw new TfjsFormatError(
      `Unsupported TF.js model ${source}: it is a graph model, but only LayersModel files can be imported. ` +
        'Convert the Keras model with tensorflowjs_converter --input_format keras (or keras_saved_model) instead.',
    );
  }

  const model = flattenTopology(json.modelTopology, source);
  const readShard = options.readShard ?? missingShardReader(source);
  const weights = await readWeights(json.weightsManifest, readShard, source);
  const context = new LayerContext(source, weights);
  const { graph, inputAffine } = mapModel(model, context);

  if (weights.nonFinite.length > 0) {
    const names = weights.nonFinite.slice(0, 5).map((name) => `'${name}'`).join(', ');
    const more = weights.nonFinite.length > 5 ? ` and ${weights.nonFinite.length - 5} more` : '';
    console.warn(
      `efficientnet-wasm: weights ${names}${more} of ${source} contain NaN or infinity, so predictions will not be finite. ` +
        'Check the training run or export the model again.',
    );
  }

  return {
    name: model.name,
    format: 'tfjs',
    graph,
    labels: null,
    normalization: inputAffine ? normalizationOf(inputAffine, source) : { mean: [0, 0, 0], std: [1, 1, 1] },
    inputSpace: inputAffine ? 'pixels' : 'normalized',
    // Without Rescaling or Normalization layers, model.json does not say what input the model was trained on.
    ...(inputAffine ? {} : { normalizationAssumed: true }),
    quantized: false,
  };
}

/** Imports the in-memory form { modelJson, weights }. */
export async function importTfjsFiles(files: TfjsModelFiles, source = 'model.json (in memory)'): Promise<ModelDescription> {
  const json = parseModelJson(files.modelJson, source);
  const weights = files.weights;
  if (typeof weights !== 'object' || weights === null) {
    throw new TypeError(`Invalid model source: weights must map each shard path to its bytes, but got ${describeValue(weights)}.`);
  }
  // Keys match the manifest path as written, without a leading './', or by file name alone.
  const plain = (path: string) => path.replace(/^(\.\/)+/, '');
  const byPath = new Map(Object.entries(weights).map(([key, value]) => [plain(key), value]));
  const byFileName = new Map(Object.entries(weights).map(([key, value]) => [key.split('/').pop()!, value]));
  const readShard: ShardReader = async (path) => {
    const bytes = weights[path] ?? byPath.get(plain(path)) ?? byFileName.get(path.split('/').pop()!);
    if (bytes instanceof Uint8Array) return bytes;
    if (bytes instanceof ArrayBuffer) return new Uint8Array(bytes);
    const keys = Object.keys(weights);
    throw new TfjsFormatError(
      `Missing weight shard '${path}' of ${source}: the weights object has no Uint8Array or ArrayBuffer under that path ` +
        `(its keys are ${keys.length > 0 ? keys.map((key) => `'${key}'`).join(', ') : 'none'}). ` +
        'Pass every shard listed in weightsManifest, keyed by its path.',
    );
  };
  return importTfjs(json, { source, readShard });
}

/** Creates the shard reader for model.json given as bare bytes, which fails as soon as a shard is needed. */
function missingShardReader(source: string): ShardReader {
  return async (path) => {
    throw new TfjsFormatError(
      `Failed to load TF.js model ${source}: model.json lists the weight shard '${path}', but the model was passed as bytes, ` +
        'so there is no folder to read shards from. Pass the path or URL of model.json, or { modelJson, weights } with every shard.',
    );
  };
}

/**
 * Turns stemInput = pixel * gain + offset into the (pixel - mean) / std form:
 * mean = -offset / gain and std = 1 / gain per channel.
 */
function normalizationOf(affine: ChannelAffine, source: string): Normalization {
  const result: Normalization = { mean: [0, 0, 0], std: [1, 1, 1] };
  for (let c = 0; c < 3; c++) {
    const gain = affine.gain[c];
    if (gain === 0 || !Number.isFinite(gain) || !Number.isFinite(affine.offset[c])) {
      throw new TfjsFormatError(
        `Unsupported TF.js model ${source}: the Rescaling and Normalization layers map channel ${c} to x * ${gain} + ${affine.offset[c]}, ` +
          'so the input cannot be normalized. Check the scale and variance values of those layers.',
      );
    }
    result.mean[c] = -affine.offset[c] / gain;
    result.std[c] = 1 / gain;
  }
  return result;
}
