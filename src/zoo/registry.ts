/**
 * The models that loadModel and the CLI know by name: where each file is
 * published, its size and SHA-256 where known, and its license. A mirror or a
 * test replaces the base URL (modelBaseUrl, EFFNET_MODEL_BASE_URL) or adds and
 * replaces entries (registry, EFFNET_MODEL_REGISTRY).
 */

/** A model's file format; 'tfjs' is a LayersModel model.json with its weight shards. */
export type ZooFormat = 'tflite' | 'tfjs' | 'safetensors';

/** One file of a model, published under the entry's base URL. */
export interface ZooFile {
  /** Path relative to the base URL; the cache keeps the file under the same relative path. */
  path: string;
  /** Size in bytes, or null when unknown (the download is then checked against Content-Length). */
  size: number | null;
  /** Lowercase hex SHA-256 of the file, or null when unknown. */
  sha256: string | null;
}

/** A named model. */
export interface ZooEntry {
  name: string;
  description: string;
  format: ZooFormat;
  /** URL that the file paths are relative to; ends with '/'. */
  baseUrl: string;
  /**
   * The model's files. files[0] is the file that loadModel opens. A 'tfjs'
   * entry lists model.json first, then its shards, or only model.json, in which
   * case the shards named in its weightsManifest are downloaded with it.
   */
  files: ZooFile[];
  /** License of the model file, as an SPDX identifier where there is one. */
  license: string;
  /** Page that describes the model and its files. */
  source: string;
}

/** The model that `effnet classify` and `effnet info` use without --model. */
export const DEFAULT_MODEL_NAME = 'efficientnet-lite0';

const MEDIAPIPE_MODELS = 'https://storage.googleapis.com/mediapipe-models/';
const MEDIAPIPE_IMAGE_CLASSIFIER_PAGE = 'https://ai.google.dev/edge/mediapipe/solutions/vision/image_classifier#models';

// NOTE: the sizes and checksums below are those that public projects pinning
// these exact URLs record; no test downloads the files. The EfficientNet-Lite2
// int8 file has no published size or checksum, so only Content-Length checks it.
// Keras EfficientNet B0-B7 are not listed: the public TensorFlow.js exports of
// them that could be found are graph models, which the tfjs importer rejects.
/** The built-in registry. */
export const MODEL_ZOO: readonly ZooEntry[] = [
  {
    name: 'efficientnet-lite0',
    description: 'EfficientNet-Lite0, ImageNet (1000 classes), float32, 224x224 input; labels in the file metadata',
    format: 'tflite',
    baseUrl: MEDIAPIPE_MODELS,
    files: [
      {
        path: 'image_classifier/efficientnet_lite0/float32/1/efficientnet_lite0.tflite',
        size: 18_582_189,
        sha256: '6c7ab0a6e5dcbf38a8c33b960996a55a3b4300b36a018c4545801de3a3c8bde0',
      },
    ],
    license: 'Apache-2.0',
    source: MEDIAPIPE_IMAGE_CLASSIFIER_PAGE,
  },
  {
    name: 'efficientnet-lite0-int8',
    description: 'EfficientNet-Lite0, ImageNet (1000 classes), int8 quantized, 224x224 input; labels in the file metadata',
    format: 'tflite',
    baseUrl: MEDIAPIPE_MODELS,
    files: [
      {
        path: 'image_classifier/efficientnet_lite0/int8/1/efficientnet_lite0.tflite',
        size: 5_434_517,
        sha256: 'bc2ffe19c1118de0c0c2a9088992da5589722656e0fba81421385300a4a34b16',
      },
    ],
    license: 'Apache-2.0',
    source: MEDIAPIPE_IMAGE_CLASSIFIER_PAGE,
  },
  {
    name: 'efficientnet-lite2',
    description: 'EfficientNet-Lite2, ImageNet (1000 classes), float32; labels in the file metadata',
    format: 'tflite',
    baseUrl: MEDIAPIPE_MODELS,
    files: [
      {
        path: 'image_classifier/efficientnet_lite2/float32/1/efficientnet_lite2.tflite',
        size: 24_325_765,
        sha256: '94b6c84a5d6de20f932558de213b50e0338dcc06ab83d8d64b12128a476b4b83',
      },
    ],
    license: 'Apache-2.0',
    source: MEDIAPIPE_IMAGE_CLASSIFIER_PAGE,
  },
  {
    name: 'efficientnet-lite2-int8',
    description: 'EfficientNet-Lite2, ImageNet (1000 classes), int8 quantized; labels in the file metadata',
    format: 'tflite',
    baseUrl: MEDIAPIPE_MODELS,
    files: [{ path: 'image_classifier/efficientnet_lite2/int8/1/efficientnet_lite2.tflite', size: null, sha256: null }],
    license: 'Apache-2.0',
    source: MEDIAPIPE_IMAGE_CLASSIFIER_PAGE,
  },
];

const NAME_PATTERN = /^[a-z0-9][a-z0-9._-]*$/i;
const SHA256_PATTERN = /^[0-9a-f]{64}$/;

/**
 * Merges extra entries into the built-in registry (an entry with a built-in
 * name replaces it) and rebases every entry on baseUrl when one is given.
 * Each entry is checked, so a bad registry file fails here with its name.
 */
export function buildRegistry(extra: readonly ZooEntry[] = [], baseUrl?: string, origin = 'registry'): ZooEntry[] {
  const byName = new Map<string, ZooEntry>();
  for (const entry of MODEL_ZOO) byName.set(entry.name, entry);
  for (const entry of extra) {
    validateEntry(entry, origin);
    byName.set(entry.name, entry);
  }
  const entries = [...byName.values()];
  if (baseUrl === undefined || baseUrl === '') return entries;
  const rebased = normalizeBaseUrl(baseUrl, 'model base URL');
  return entries.map((entry) => ({ ...entry, baseUrl: rebased }));
}

/** Returns the entry with this name, or null. */
export function findEntry(registry: readonly ZooEntry[], name: string): ZooEntry | null {
  return registry.find((entry) => entry.name === name) ?? null;
}

/** Returns the absolute URL of one of an entry's files. */
export function fileUrl(entry: ZooEntry, file: ZooFile): URL {
  return new URL(file.path, entry.baseUrl);
}

/** Returns the sum of the entry's file sizes, or null when any is unknown. */
export function knownSize(entry: ZooEntry): number | null {
  let total = 0;
  for (const file of entry.files) {
    if (file.size === null) return null;
    total += file.size;
  }
  return total;
}

/**
 * Returns true for a string shaped like a registry name rather than a path or
 * URL: no path separator, no scheme, and no model file extension.
 */
export function looksLikeModelName(value: string): boolean {
  return NAME_PATTERN.test(value) && !/\.(tflite|json|safetensors|bin)$/i.test(value);
}

/** Parses the JSON text of a registry file: { "baseUrl"?: string, "models": [entry, ...] }. */
export function parseRegistryFile(text: string, origin: string): ZooEntry[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`Invalid model registry ${origin}: it is not valid JSON (${(error as Error).message}).`);
  }
  if (typeof json !== 'object' || json === null || !Array.isArray((json as { models?: unknown }).models)) {
    throw new Error(`Invalid model registry ${origin}: expected an object with a "models" array, as in { "models": [ ... ] }.`);
  }
  const { models, baseUrl } = json as { models: unknown[]; baseUrl?: unknown };
  if (baseUrl !== undefined && typeof baseUrl !== 'string') {
    throw new Error(`Invalid model registry ${origin}: "baseUrl" must be a string, but got ${typeof baseUrl}.`);
  }
  return models.map((model) => {
    if (typeof model !== 'object' || model === null) {
      throw new Error(`Invalid model registry ${origin}: every entry of "models" must be an object, but got ${JSON.stringify(model)}.`);
    }
    // An entry without its own baseUrl takes the file's.
    const entry = { baseUrl, ...model } as ZooEntry;
    validateEntry(entry, origin);
    return entry;
  });
}

function validateEntry(entry: ZooEntry, origin: string): void {
  const where = `Invalid model registry entry ${JSON.stringify(entry.name)} in ${origin}`;
  if (typeof entry.name !== 'string' || !looksLikeModelName(entry.name)) {
    throw new Error(
      `${where}: the name must be letters, digits, '.', '_' or '-', without a model file extension, so that it cannot be read as a path.`,
    );
  }
  if (entry.format !== 'tflite' && entry.format !== 'tfjs' && entry.format !== 'safetensors') {
    throw new Error(`${where}: "format" must be tflite, tfjs or safetensors, but got ${JSON.stringify(entry.format)}.`);
  }
  if (typeof entry.baseUrl !== 'string') throw new Error(`${where}: "baseUrl" is missing; give the URL that the file paths are relative to.`);
  entry.baseUrl = normalizeBaseUrl(entry.baseUrl, where);
  if (!Array.isArray(entry.files) || entry.files.length === 0) {
    throw new Error(`${where}: "files" must list at least the model file, as [{ "path": ..., "size": ..., "sha256": ... }].`);
  }
  for (const file of entry.files) {
    if (typeof file?.path !== 'string' || !isSafeRelativePath(file.path)) {
      throw new Error(`${where}: file path ${JSON.stringify(file?.path)} must be relative, without '..' or a leading '/'.`);
    }
    if (file.size === undefined) file.size = null;
    if (file.size !== null && (!Number.isInteger(file.size) || file.size < 0)) {
      throw new Error(`${where}: the size of ${file.path} must be a non-negative integer or null, but got ${JSON.stringify(file.size)}.`);
    }
    if (file.sha256 === undefined) file.sha256 = null;
    if (file.sha256 !== null) {
      if (typeof file.sha256 !== 'string' || !SHA256_PATTERN.test(file.sha256.toLowerCase())) {
        throw new Error(`${where}: the sha256 of ${file.path} must be 64 hex digits or null, but got ${JSON.stringify(file.sha256)}.`);
      }
      file.sha256 = file.sha256.toLowerCase();
    }
  }
  entry.description ??= '';
  entry.license ??= 'unknown';
  entry.source ??= '';
}

function normalizeBaseUrl(value: string, where: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`${where}: base URL ${JSON.stringify(value)} is not an absolute URL. Give one such as https://example.com/models/.`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:' && url.protocol !== 'file:') {
    throw new Error(`${where}: base URL ${value} must use http, https or file.`);
  }
  return url.href.endsWith('/') ? url.href : `${url.href}/`;
}

/** Returns true for a relative path that stays inside its folder. */
export function isSafeRelativePath(path: string): boolean {
  if (path === '' || path.startsWith('/') || path.startsWith('\\') || /^[a-z]+:/i.test(path)) return false;
  return path.split(/[\\/]/).every((part) => part !== '..' && part !== '' && part !== '.');
}

/** Reads the shard paths of a TF.js model.json's weightsManifest, rejecting paths that leave its folder. */
export function shardPaths(text: string, model: string): string[] {
  let json: { weightsManifest?: Array<{ paths?: unknown }> };
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`Invalid model.json of model ${model}: it is not valid JSON (${(error as Error).message}).`);
  }
  if (!Array.isArray(json.weightsManifest)) {
    throw new Error(`Invalid model.json of model ${model}: it has no weightsManifest array, so its weight shards are unknown.`);
  }
  const paths: string[] = [];
  for (const group of json.weightsManifest) {
    for (const shard of Array.isArray(group?.paths) ? group.paths : []) {
      if (typeof shard !== 'string' || !isSafeRelativePath(shard.replace(/^\.\//, ''))) {
        throw new Error(`Invalid model.json of model ${model}: shard path ${JSON.stringify(shard)} must be relative, without '..'.`);
      }
      const clean = shard.replace(/^\.\//, '');
      if (!paths.includes(clean)) paths.push(clean);
    }
  }
  return paths;
}
