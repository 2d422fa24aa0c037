/**
 * The efficientnet-wasm model file: an imported model stored as one safetensors
 * file, so that loading it skips parsing and mapping the original format.
 *
 * "__metadata__" contains these strings:
 *   format          "efficientnet-wasm"
 *   format_version  "1"
 *   name            the model name
 *   source_format   the format the model was imported from ("tflite", "tfjs", "builtin")
 *   graph           JSON of the graph configuration (graph-config.ts), every Graph field but the tensors
 *   labels          JSON: an array of strings, or null
 *   normalization   JSON: { "mean": [r, g, b], "std": [r, g, b] }
 *   input_space     "pixels" or "normalized"; absent when the description has none
 *   normalization_assumed  "true" when the original file did not state its normalization; else absent
 *   quantized       "true" or "false"
 *   output_grid     JSON of the output QuantGrid; absent when the description has none
 * The tensors are all F32, named and ordered as graph-config.ts lists them.
 */
import type { InputSpace, ModelDescription, Normalization, QuantGrid } from '../../graph/spec.js';
import {
  checkTensorEntries,
  describeJson,
  isPlainObject,
  LITTLE_ENDIAN_PLATFORM,
  looksLikeSafetensors,
  ModelFileError,
  parseHeader,
  writeSafetensors,
  type ParsedHeader,
  type TensorEntry,
} from './container.js';
import { checkGraphConfig, checkQuantGrid, decodeGraph, encodeGraph, expectedTensors, type GraphConfig } from './graph-config.js';

export { ModelFileError, type TensorEntry } from './container.js';

export const MODEL_FILE_FORMAT = 'efficientnet-wasm';
/** The format version this code writes and the newest it reads. */
export const MODEL_FILE_VERSION = 1;

export interface ImportModelFileOptions {
  /** File name or URL of the model, for error messages. */
  source: string;
}

/** The description fields stored in "__metadata__", checked. */
interface StoredFields {
  name: string;
  sourceFormat: string;
  config: GraphConfig;
  labels: string[] | null;
  normalization: Normalization;
  inputSpace?: InputSpace;
  normalizationAssumed?: boolean;
  quantized: boolean;
  outputGrid?: QuantGrid;
}

/** The format each description read from a model file was first imported from, for converting it again. */
const sourceFormats = new WeakMap<ModelDescription, string>();

/**
 * True when the bytes start like a safetensors file. Files that other tools
 * wrote also match; importModelFile rejects them with a message saying so.
 */
export function isModelFile(bytes: Uint8Array): boolean {
  return looksLikeSafetensors(bytes);
}

/** Writes a model description, graph and tensors, as one efficientnet-wasm model file. */
export function serializeModel(description: ModelDescription): Uint8Array {
  const fail = (problem: string): never => {
    throw new Error(`Cannot serialize model ${description.name}: ${problem}.`);
  };
  const { config, tensors } = encodeGraph(description.graph);
  const metadata: Record<string, string> = {
    format: MODEL_FILE_FORMAT,
    format_version: String(MODEL_FILE_VERSION),
    name: description.name,
    source_format: sourceFormats.get(description) ?? description.format,
    graph: JSON.stringify(config),
    labels: JSON.stringify(description.labels),
    normalization: JSON.stringify(description.normalization),
    ...(description.inputSpace !== undefined ? { input_space: description.inputSpace } : {}),
    ...(description.normalizationAssumed ? { normalization_assumed: 'true' } : {}),
    quantized: String(description.quantized),
    ...(description.outputGrid ? { output_grid: JSON.stringify(description.outputGrid) } : {}),
  };
  // Run the reader's checks, so that a description the reader would reject is never written.
  readStoredFields(metadata, fail);

  const ordered = expectedTensors(config).map(({ name, shape }) => {
    const data = tensors.get(name)!;
    const count = shape.reduce((a, b) => a * b, 1);
    if (data.length !== count) fail(`tensor ${name} has ${data.length} values, but its layer needs [${shape.join(', ')}] = ${count}`);
    return { name, shape, data };
  });
  return writeSafetensors(ordered, metadata);
}

/**
 * Reads an efficientnet-wasm model file. The tensors are Float32Array views on
 * the file's bytes when the data section is 4-byte aligned in memory, and views
 * on one copy of the data section otherwise, so the returned graph shares
 * memory with `bytes` in the aligned case. Throws a ModelFileError that names
 * the file, the tensor or field, and the expected and actual values.
 */
export function importModelFile(bytes: Uint8Array, options: ImportModelFileOptions): ModelDescription {
  const { source } = options;
  const fail = (problem: string): never => {
    throw new ModelFileError(
      `Invalid efficientnet-wasm model file ${source}: ${problem}. The file is corrupt or was edited; convert the model again.`,
    );
  };
  const header = parseHeader(bytes, source);
  checkFormatMarker(header, source);
  const entries = checkTensorEntries(header, source);
  const stored = readStoredFields(header.metadata!, fail);

  const expected = expectedTensors(stored.config);
  checkTensorNames(expected, entries, source);
  const byName = new Map(entries.map((entry) => [entry.name, entry]));
  const readTensor = tensorReader(bytes, header);
  const graph = decodeGraph(stored.config, (name, shape) => {
    const entry = byName.get(name)!;
    if (entry.dtype !== 'F32') fail(`tensor ${name} must have dtype F32, but it has ${entry.dtype}`);
    if (entry.shape.length !== shape.length || entry.shape.some((dim, i) => dim !== shape[i])) {
      fail(`tensor ${name} must have shape [${shape.join(', ')}], but it has [${entry.shape.join(', ')}]`);
    }
    return readTensor(entry);
  });

  const description: ModelDescription = {
    name: stored.name,
    format: 'efficientnet-wasm',
    graph,
    labels: stored.labels,
    normalization: stored.normalization,
    ...(stored.inputSpace !== undefined ? { inputSpace: stored.inputSpace } : {}),
    ...(stored.normalizationAssumed ? { normalizationAssumed: true } : {}),
    quantized: stored.quantized,
    ...(stored.outputGrid ? { outputGrid: stored.outputGrid } : {}),
  };
  sourceFormats.set(description, stored.sourceFormat);
  return description;
}

/** Checks a model file's header and returns its tensor entries in header order, for listing. */
export function listModelFileTensors(bytes: Uint8Array, source: string): TensorEntry[] {
  const header = parseHeader(bytes, source);
  checkFormatMarker(header, source);
  return checkTensorEntries(header, source);
}

/** Rejects safetensors files that effnet convert did not write, and newer format versions. */
function checkFormatMarker(header: ParsedHeader, source: string): void {
  const format = header.metadata?.format;
  if (format !== MODEL_FILE_FORMAT) {
    const what = format === undefined ? 'no "format" entry in its __metadata__' : `"format": ${JSON.stringify(format)} in its __metadata__`;
    throw new ModelFileError(
      `Unsupported model file ${source}: it is a safetensors file with ${header.entries.length} tensors and ${what}, ` +
        `not a model file written by effnet convert ("format": "${MODEL_FILE_FORMAT}"). ` +
        'Only safetensors files written by effnet convert are supported for now; convert the original model with ' +
        '"effnet convert <model> -o <file>".',
    );
  }
  const text = header.metadata!.format_version;
  const version = Number(text);
  if (text === undefined || !/^[1-9][0-9]*$/.test(text) || !Number.isSafeInteger(version)) {
    throw new ModelFileError(
      `Invalid efficientnet-wasm model file ${source}: __metadata__ format_version must be a positive integer, ` +
        `but got ${describeJson(text)}. The file is corrupt or was edited; convert the model again.`,
    );
  }
  if (version > MODEL_FILE_VERSION) {
    throw new ModelFileError(
      `Unsupported model file ${source}: it has format version ${version}, but this version of efficientnet-wasm ` +
        `reads format version ${MODEL_FILE_VERSION} and older. Update efficientnet-wasm, or convert the original ` +
        'model with this version.',
    );
  }
}

/** Reports tensors the configuration calls for but the file lacks, and tensors it has but nothing uses. */
function checkTensorNames(expected: { name: string; shape: number[] }[], entries: TensorEntry[], source: string): void {
  const present = new Set(entries.map((entry) => entry.name));
  const wanted = new Set(expected.map((spec) => spec.name));
  const missing = expected.filter((spec) => !present.has(spec.name));
  const extra = entries.filter((entry) => !wanted.has(entry.name));
  const list = (names: string[]) => names.slice(0, 5).join(', ') + (names.length > 5 ? ` and ${names.length - 5} more` : '');
  if (missing.length > 0) {
    const first = missing[0];
    throw new ModelFileError(
      `Invalid efficientnet-wasm model file ${source}: the graph configuration needs tensor ${first.name} ` +
        `(F32 [${first.shape.join(', ')}]), but the file does not have it ` +
        `(${missing.length} missing: ${list(missing.map((spec) => spec.name))}). ` +
        'The file is corrupt or was edited; convert the model again.',
    );
  }
  if (extra.length > 0) {
    throw new ModelFileError(
      `Invalid efficientnet-wasm model file ${source}: tensor ${extra[0].name} is not part of the graph configuration ` +
        `(${extra.length} unexpected: ${list(extra.map((entry) => entry.name))}). ` +
        'The file is corrupt or was edited; convert the model again.',
    );
  }
}

/**
 * Returns a function that maps a checked tensor entry to its values. It copies
 * the data section at most once: never when it is 4-byte aligned in memory on a
 * little-endian platform.
 */
function tensorReader(bytes: Uint8Array, header: ParsedHeader): (entry: TensorEntry) => Float32Array {
  if (!LITTLE_ENDIAN_PLATFORM) {
    const view = new DataView(bytes.buffer, bytes.byteOffset + header.dataOffset, header.dataLength);
    return (entry) => {
      const values = new Float32Array((entry.end - entry.begin) / 4);
      for (let i = 0; i < values.length; i++) values[i] = view.getFloat32(entry.begin + 4 * i, true);
      return values;
    };
  }
  let buffer: ArrayBufferLike = bytes.buffer;
  let start = bytes.byteOffset + header.dataOffset;
  if (start % 4 !== 0) {
    buffer = bytes.slice(header.dataOffset).buffer;
    start = 0;
  }
  return (entry) => new Float32Array(buffer, start + entry.begin, (entry.end - entry.begin) / 4);
}

/** Reads and checks the description fields of "__metadata__". */
function readStoredFields(metadata: Record<string, string>, fail: (problem: string) => never): StoredFields {
  const json = (key: string): unknown => {
    const text = metadata[key];
    if (text === undefined) return fail(`__metadata__ has no "${key}" entry`);
    try {
      return JSON.parse(text);
    } catch (error) {
      return fail(`__metadata__ ${key} is not valid JSON (${(error as Error).message})`);
    }
  };
  const text = (key: string): string => metadata[key] ?? fail(`__metadata__ has no "${key}" entry`);

  const config = checkGraphConfig(json('graph'), (problem) => fail(`graph configuration ${problem}`));

  const labels = json('labels');
  if (labels !== null && !(Array.isArray(labels) && labels.every((label) => typeof label === 'string'))) {
    fail(`__metadata__ labels must be null or an array of strings, but got ${describeJson(labels)}`);
  }
  const classes = config.classifier?.outChannels;
  if (Array.isArray(labels) && classes !== undefined && labels.length !== classes) {
    fail(`__metadata__ labels must have one label per class (${classes}), but it has ${labels.length}`);
  }

  const normalization = json('normalization');
  const triple = (value: unknown) =>
    Array.isArray(value) && value.length === 3 && value.every((entry) => typeof entry === 'number' && Number.isFinite(entry));
  if (
    !isPlainObject(normalization) ||
    Object.keys(normalization).some((key) => key !== 'mean' && key !== 'std') ||
    !triple(normalization.mean) ||
    !triple(normalization.std) ||
    (normalization.std as number[]).includes(0)
  ) {
    fail(
      '__metadata__ normalization must be { "mean": [r, g, b], "std": [r, g, b] } with finite numbers and ' +
        `a nonzero std, but got ${metadata.normalization}`,
    );
  }

  const inputSpace = metadata.input_space;
  if (inputSpace !== undefined && inputSpace !== 'pixels' && inputSpace !== 'normalized') {
    fail(`__metadata__ input_space must be "pixels" or "normalized", but got ${JSON.stringify(inputSpace)}`);
  }
  const assumed = metadata.normalization_assumed;
  if (assumed !== undefined && assumed !== 'true') {
    fail(`__metadata__ normalization_assumed must be "true" or absent, but got ${JSON.stringify(assumed)}`);
  }
  const quantized = text('quantized');
  if (quantized !== 'true' && quantized !== 'false') fail(`__metadata__ quantized must be "true" or "false", but got ${JSON.stringify(quantized)}`);

  const outputGrid = metadata.output_grid === undefined ? undefined : checkQuantGrid(json('output_grid'), '__metadata__ output_grid', fail);

  return {
    name: text('name'),
    sourceFormat: text('source_format'),
    config,
    labels: labels as string[] | null,
    normalization: normalization as unknown as Normalization,
    ...(inputSpace !== undefined ? { inputSpace } : {}),
    ...(assumed === 'true' ? { normalizationAssumed: true } : {}),
    quantized: quantized === 'true',
    ...(outputGrid ? { outputGrid } : {}),
  };
}
