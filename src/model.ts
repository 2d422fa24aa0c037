import { importModel } from './formats/index.js';
import { isTfjsModelFiles } from './formats/sniff.js';
import { importTfjsFiles } from './formats/tfjs/index.js';
import { GraphExecutor } from './graph/executor.js';
import type { ModelDescription, Normalization } from './graph/spec.js';
import { decodeImage, decodeImageBytes, preprocessInto, type ImageSource, type PixelData } from './image/index.js';
import { isUrlString, readSource, type ModelSource } from './source.js';
import { importsMemory, KernelInstance, resolveWasmPath, type WasmPath } from './wasm/instantiate.js';
import { availableCores, ThreadStartError, threadsUnavailableReason } from './wasm/threads.js';
import { resolveModelSource, type ModelDownloadOptions } from './zoo/index.js';

export interface LoadModelOptions extends ModelDownloadOptions {
  /**
   * Kernel build: 'auto' (the fastest the runtime validates: relaxed SIMD, then
   * SIMD, then scalar), 'relaxed-simd', 'simd' or 'scalar'.
   */
  wasmPath?: WasmPath | 'auto';
  /**
   * Threads that run each layer, the calling thread included: 'auto' (the
   * default) takes every available core, 1 runs without workers. Threads need
   * SharedArrayBuffer, which a browser gives only to cross-origin isolated
   * pages; without it the model runs on one thread and warns once. Results are
   * bit-identical for every thread count.
   */
  numThreads?: number | 'auto';
  /**
   * Throughput mode for servers: classify() calls that arrive within
   * maxDelayMs of each other run as one batch of up to maxBatch images, which
   * shares weight loads between them. Off by default (each call runs alone).
   */
  batching?: { maxBatch: number; maxDelayMs?: number };
  /**
   * A compiled kernel build (the default import of 'efficientnet-wasm/kernels-simd.wasm',
   * 'kernels-relaxed-simd.wasm' or 'kernels-scalar.wasm') used in place of compiling the
   * embedded one. Needed where compiling wasm at run time is forbidden: Cloudflare
   * Workers and workerd. The thread builds (kernels-simd-threads.wasm and
   * kernels-relaxed-simd-threads.wasm) run on several threads.
   */
  wasmModule?: WebAssembly.Module;
  /**
   * For quantized models, emulate the integer pipeline so outputs follow TFLite's
   * (false runs them in plain float). Default true.
   */
  quantizationGrid?: boolean;
  /** Labels to use in place of those in the file, one per output class. */
  labels?: string[];
  /**
   * Per-channel (R, G, B) mean and standard deviation in 0-255 pixel units that
   * classify() applies, input = (pixel - mean) / std, in place of the model
   * file's. Needed where the file does not state it (info.normalizationAssumed):
   * a TF.js model without Rescaling or Normalization layers, or a float TFLite
   * file without normalization metadata. For example { mean: [127.5, 127.5, 127.5],
   * std: [127.5, 127.5, 127.5] } maps pixels to [-1, 1].
   */
  normalization?: Normalization;
}

export interface ClassifyOptions {
  /** How many predictions to return, best first. Default 5. */
  topK?: number;
  /** Drop predictions scoring below this. Default 0. */
  scoreThreshold?: number;
  /** 'stretch' resizes the whole image (default); 'center-crop' keeps the aspect ratio and crops the middle. */
  fit?: 'stretch' | 'center-crop';
  /** Input size for models that accept any size; defaults to the image's own size. */
  inputSize?: { height: number; width: number };
}

export interface Prediction {
  index: number;
  label: string;
  score: number;
}

export interface Timings {
  decodeMs: number;
  preprocessMs: number;
  inferenceMs: number;
  totalMs: number;
}

export interface Classification {
  predictions: Prediction[];
  timings: Timings;
}

export interface ModelInfo {
  name: string;
  format: ModelDescription['format'];
  /** Fixed input size, or null when the model accepts any size. */
  inputSize: { height: number; width: number } | null;
  inputChannels: number;
  /** Classes of the classifier, or null for a model that outputs features. */
  numClasses: number | null;
  outputSize: number | null;
  hasLabels: boolean;
  /** Input space of predict(): 0-255 'pixels', or 'normalized' values. */
  inputSpace: 'pixels' | 'normalized';
  quantized: boolean;
  quantizationGrid: boolean;
  /**
   * True when a quantized model runs as an emulated integer pipeline, with
   * integer weights, exact accumulators and TFLite-style requantization.
   * False when it runs in float, with or without rounding onto the grids.
   */
  integerPipeline: boolean;
  normalization: Normalization;
  /** True when the file does not state its normalization, so `normalization` is an assumption. */
  normalizationAssumed: boolean;
  blocks: number;
  parameters: number;
  wasmPath: WasmPath;
  threads: number;
  /** Bytes of wasm linear memory the model uses (weights and activations). */
  memoryBytes: number;
}

/**
 * Loads a model from a registry name (such as 'efficientnet-lite0', downloaded
 * once and cached), a file path (Node), a URL, the file's bytes, or a TF.js
 * { modelJson, weights } object, and prepares it to run. The returned model is
 * fully loaded, or this throws.
 */
export async function loadModel(source: ModelSource, options: LoadModelOptions = {}): Promise<Model> {
  // Options fail before anything is read or downloaded.
  checkLoadOptions(options);
  // The kernels compile, and run their warm-up, while the model file is read.
  const cancelled = { value: false };
  const kernels = createKernels(options, cancelled);
  // A kernel error can arrive while the file is still being read. The await below reports it,
  // or it is dropped when the read fails first. Without a handler now, Node would end the
  // process on the unhandled rejection.
  kernels.catch(() => undefined);
  let description: ModelDescription;
  try {
    description = await readModelDescription(source, options);
  } catch (error) {
    // Nothing half-loaded stays: the kernels leave the thread pool once they are ready.
    cancelled.value = true;
    kernels.then((instance) => instance.dispose(), () => undefined);
    throw error;
  }
  return createModelOn(description, options, await kernels);
}

/**
 * Reads and imports a model file without preparing it to run, e.g. to convert it.
 * A TF.js model.json given by path or URL reads its weight shards from the same folder.
 */
export async function readModelDescription(source: ModelSource, options: ModelDownloadOptions = {}): Promise<ModelDescription> {
  source = await resolveModelSource(source, options);
  if (isTfjsModelFiles(source)) return importTfjsFiles(source);
  const { bytes, name, readRelative } = await readSource(source);
  return importModel(bytes, name, { readRelative });
}

/** Prepares an imported or built graph to run on a fresh kernel instance. */
export async function createModel(description: ModelDescription, options: LoadModelOptions = {}): Promise<Model> {
  checkLoadOptions(options);
  return createModelOn(description, options, await createKernels(options));
}

let warnedNoThreads = false;
let warnedManyThreads = false;

/** Names the type of a value for an error message: a class name (Uint8Array, Array) or a typeof. */
function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'an object';
  return typeof value;
}

/** Shows an option's value in an error message: NaN and Infinity as themselves, not as JSON's null. */
function shown(value: unknown): string {
  return typeof value === 'number' ? String(value) : JSON.stringify(value);
}

/** Every key that loadModel and createModel take, to catch a misspelled option. */
const LOAD_OPTION_KEYS = [
  'wasmPath', 'numThreads', 'batching', 'wasmModule', 'quantizationGrid', 'labels', 'normalization',
  'onProgress', 'cacheDir', 'modelBaseUrl', 'registry',
] as const satisfies readonly (keyof LoadModelOptions)[];

/** Returns the known name closest to a misspelled one (by edit distance), or null when none is close. */
function closestName(name: string, names: readonly string[]): string | null {
  const distance = (a: string, b: string): number => {
    const row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      let diagonal = row[0];
      row[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const above = row[j];
        row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1));
        diagonal = above;
      }
    }
    return row[b.length];
  };
  let best: string | null = null;
  let bestDistance = 3;
  for (const candidate of names) {
    const d = distance(name, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** Rejects keys that an options object does not take, naming the closest known key. */
function checkKeys(what: string, value: object, known: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    const close = closestName(key, known);
    throw new Error(
      `Unknown ${what} ${JSON.stringify(key)}${close ? `: did you mean ${close}?` : '.'} ` +
        `The options are ${known.join(', ')}.`,
    );
  }
}

/** Checks the options that do not depend on the model, before the model is read. */
function checkLoadOptions(options: LoadModelOptions): void {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`Invalid options: expected an object such as { numThreads: 2 }, but got ${shown(options)}.`);
  }
  checkKeys('loadModel option', options, LOAD_OPTION_KEYS);
  if (options.numThreads === null) {
    throw new Error("Invalid numThreads: expected 'auto' or a positive integer, but got null. Leave it out for 'auto'.");
  }
  const requested = options.numThreads ?? 'auto';
  if (requested !== 'auto' && !(typeof requested === 'number' && Number.isInteger(requested) && requested >= 1)) {
    throw new Error(`Invalid numThreads: expected 'auto' or a positive integer, but got ${shown(requested)}.`);
  }
  if (options.batching !== undefined) checkBatching(options.batching);
  if (options.normalization !== undefined) checkNormalization(options.normalization);
  if (options.wasmPath !== undefined && options.wasmModule === undefined) {
    if (resolveWasmPath(options.wasmPath) === 'scalar' && requested !== 'auto' && requested > 1) {
      throw new Error('Invalid numThreads: the scalar kernel build runs on one thread. Pass numThreads: 1, or a SIMD wasmPath.');
    }
  }
}

/** Creates the kernel instance for a model: its build and its threads. */
async function createKernels(options: LoadModelOptions, cancelled = { value: false }): Promise<KernelInstance> {
  const requested = options.numThreads ?? 'auto';
  const path = options.wasmPath ?? 'auto';
  // An explicit single thread skips the core count, which costs a module import in Node.
  const cores = requested === 1 ? 1 : await availableCores();
  // A load whose file read has already failed starts no worker.
  if (cancelled.value) throw new Error('The load was cancelled.');
  let threads = requested === 'auto' ? cores : requested;
  if (threads > 2 * cores && !warnedManyThreads) {
    warnedManyThreads = true;
    console.warn(
      `efficientnet-wasm: numThreads ${threads} is more than twice the ${cores} cores available. Each thread starts a ` +
        "worker with its own copy of the kernels, and threads beyond the cores take turns on them. Pass numThreads: 'auto' " +
        'for one thread per core.',
    );
  }
  if (threads > 1) {
    const reason = threadsUnavailableReason();
    const browserPage = typeof (globalThis as { document?: unknown }).document === 'object';
    const singleThreadedBuild =
      options.wasmModule !== undefined ? !importsMemory(options.wasmModule) : resolveWasmPath(path) === 'scalar';
    if (reason !== null) {
      // Where no thread can ever run (an edge runtime), 'auto' quietly means one. An explicit request,
      // or a browser page that could be made cross-origin isolated, gets the warning.
      if ((requested !== 'auto' || browserPage) && !warnedNoThreads) {
        warnedNoThreads = true;
        console.warn(`efficientnet-wasm: running on one thread, because ${reason}.`);
      }
      threads = 1;
    } else if (singleThreadedBuild && requested === 'auto') {
      threads = 1;
    }
  }
  if (threads === 1 || requested !== 'auto') return KernelInstance.create(path, options.wasmModule, threads);
  try {
    return await KernelInstance.create(path, options.wasmModule, threads);
  } catch (error) {
    // 'auto' falls back to one thread where workers exist but cannot run the kernels.
    if (!(error instanceof ThreadStartError)) throw error;
    if (!warnedNoThreads) {
      warnedNoThreads = true;
      console.warn(`efficientnet-wasm: running on one thread, because threads failed to start: ${error.message}`);
    }
    return KernelInstance.create(path, options.wasmModule, 1);
  }
}

/** Checks the batching option. */
function checkBatching(value: { maxBatch: number; maxDelayMs?: number }): void {
  if (typeof value === 'object' && value !== null) checkKeys('batching option', value, ['maxBatch', 'maxDelayMs']);
  if (typeof value !== 'object' || value === null || !Number.isInteger(value.maxBatch) || value.maxBatch < 1) {
    throw new Error(
      `Invalid batching option: expected { maxBatch: a positive integer, maxDelayMs?: milliseconds }, but got ${shown(value)}.`,
    );
  }
  if (value.maxDelayMs !== undefined && !(typeof value.maxDelayMs === 'number' && Number.isFinite(value.maxDelayMs) && value.maxDelayMs >= 0)) {
    throw new Error(
      `Invalid batching option: maxDelayMs must be a finite number of milliseconds, 0 or more, but got ${shown(value.maxDelayMs)}.`,
    );
  }
}

/** Prepares a description to run on a given kernel instance, which is disposed when this fails. */
function createModelOn(description: ModelDescription, options: LoadModelOptions, kernels: KernelInstance): Model {
  try {
    return prepareModel(description, options, kernels);
  } catch (error) {
    kernels.dispose();
    throw error;
  }
}

function prepareModel(description: ModelDescription, options: LoadModelOptions, kernels: KernelInstance): Model {
  if (options.normalization === undefined) {
    const { normalization } = description as { normalization?: unknown };
    if (typeof normalization !== 'object' || normalization === null) {
      throw new Error(
        `Invalid model description: ${description.name} has no normalization, which classify() needs. Give the ` +
          'description normalization: { mean: [r, g, b], std: [r, g, b] } in 0-255 pixel units, or pass it as the ' +
          'normalization option.',
      );
    }
    checkNormalization(normalization as Normalization);
  } else {
    if (description.graph.inputGrid !== undefined) {
      throw new Error(
        `Invalid normalization option: ${description.name} takes integer-quantized input, whose scale and zero point ` +
          'in the file fix how pixels map to it. The option applies to models with float input; load this one without it.',
      );
    }
    const normalization = checkNormalization(options.normalization);
    description = { ...description, normalization, normalizationAssumed: false };
  }
  const quantizationGrid = description.quantized && (options.quantizationGrid ?? true);
  const executor = new GraphExecutor(kernels, description.graph, {
    quantizationGrid,
    outputGrid: description.outputGrid,
  });
  let labels = description.labels;
  if (options.labels) {
    const classes = description.graph.classifier?.outChannels;
    if (classes !== undefined && options.labels.length !== classes) {
      throw new Error(
        `Invalid labels option: the model has ${classes} classes, but ${options.labels.length} labels were given.`,
      );
    }
    labels = options.labels;
  }
  return new Model(description, kernels, executor, labels, quantizationGrid, options.batching ?? null);
}

/** Checks the normalization option and returns a copy of it. */
function checkNormalization(value: Normalization): Normalization {
  const triple = (values: unknown, name: string, positive: boolean): [number, number, number] => {
    const list = Array.isArray(values) ? values : [];
    if (list.length !== 3 || !list.every((entry) => typeof entry === 'number' && Number.isFinite(entry) && (!positive || entry > 0))) {
      throw new Error(
        `Invalid normalization option: ${name} must be 3 finite numbers (R, G, B)${positive ? ' above 0' : ''} ` +
          `in 0-255 pixel units, but got ${JSON.stringify(values)}.`,
      );
    }
    return [list[0], list[1], list[2]];
  };
  if (typeof value !== 'object' || value === null) {
    throw new Error(`Invalid normalization option: expected { mean: [r, g, b], std: [r, g, b] }, but got ${JSON.stringify(value)}.`);
  }
  return { mean: triple(value.mean, 'mean', false), std: triple(value.std, 'std', true) };
}

/** An image waiting in the batching queue of classify(). */
interface QueuedInput {
  input: Float32Array;
  height: number;
  width: number;
  resolve: (result: { scores: Float32Array; inferenceMs: number }) => void;
  reject: (error: unknown) => void;
}

/** Groups images by size, in arrival order, into batches of at most maxBatch images of one size. */
function batchesBySize<T extends { height: number; width: number }>(entries: T[], maxBatch: number): T[][] {
  const groups = new Map<string, T[]>();
  for (const entry of entries) {
    const key = `${entry.height}x${entry.width}`;
    const group = groups.get(key);
    if (group) group.push(entry);
    else groups.set(key, [entry]);
  }
  const batches: T[][] = [];
  for (const group of groups.values()) {
    for (let first = 0; first < group.length; first += maxBatch) batches.push(group.slice(first, first + maxBatch));
  }
  return batches;
}

/** Default images per run of classifyBatch() when the model has no batching option. */
const DEFAULT_BATCH = 8;

/** A loaded model: classify images, run raw predictions, and release it with dispose(). */
export class Model {
  private readonly description: ModelDescription;
  private kernels: KernelInstance | null;
  private executor: GraphExecutor | null;
  private readonly labels: string[] | null;
  private readonly quantizationGrid: boolean;
  private readonly batching: { maxBatch: number; maxDelayMs: number } | null;
  private inputBuffer: Float32Array | null = null;
  /** Scratch for predict() on models that take pixels: the normalized tensor. */
  private normalizedBuffer: Float32Array | null = null;
  private warnedUnitRange = false;
  private warnedAssumedNormalization = false;
  private queue: QueuedInput[] = [];
  private flushTimer: ReturnType<typeof setTimeout> | null = null;

  /** @internal Use loadModel or createModel. */
  constructor(
    description: ModelDescription,
    kernels: KernelInstance,
    executor: GraphExecutor,
    labels: string[] | null,
    quantizationGrid: boolean,
    batching: { maxBatch: number; maxDelayMs?: number } | null = null,
  ) {
    this.description = description;
    this.kernels = kernels;
    this.executor = executor;
    this.labels = labels;
    this.quantizationGrid = quantizationGrid;
    this.batching = batching ? { maxBatch: batching.maxBatch, maxDelayMs: batching.maxDelayMs ?? 0 } : null;
  }

  /** Description of the model and of the kernel build that runs it. */
  get info(): ModelInfo {
    const { graph } = this.description;
    const kernels = this.requireKernels();
    const fixed = graph.inputHeight !== null && graph.inputWidth !== null;
    const classes = graph.classifier?.outChannels ?? null;
    return {
      name: this.description.name,
      format: this.description.format,
      inputSize: fixed ? { height: graph.inputHeight!, width: graph.inputWidth! } : null,
      inputChannels: graph.inputChannels,
      numClasses: classes,
      outputSize: fixed ? this.requireExecutor().outputShape(graph.inputHeight!, graph.inputWidth!).reduce((a, b) => a * b, 1) : null,
      hasLabels: this.labels !== null,
      inputSpace: this.description.inputSpace ?? 'normalized',
      quantized: this.description.quantized,
      quantizationGrid: this.quantizationGrid,
      integerPipeline: this.requireExecutor().integerPipeline,
      normalization: this.description.normalization,
      normalizationAssumed: this.description.normalizationAssumed ?? false,
      blocks: graph.blocks.length,
      parameters: this.requireExecutor().parameterCount,
      wasmPath: kernels.path,
      threads: kernels.threads,
      memoryBytes: kernels.usedBytes,
    };
  }

  /**
   * Runs the model on one NHWC tensor [1, height, width, 3] and returns the raw
   * output: probabilities for a softmax classifier, logits, or pooled features.
   * The tensor is in the model's own input space (info.inputSpace). Integer
   * TFLite models and Keras models with preprocessing layers take 0-255 pixel
   * values, which predict() normalizes. Other models take values already
   * normalized with info.normalization. The size defaults to the model's input size.
   */
  predict(input: Float32Array, size?: { height: number; width: number }): Float32Array {
    const executor = this.requireExecutor();
    const { height, width } = this.predictSize(size, 'predict');
    if (!(input instanceof Float32Array)) {
      throw new TypeError(
        `Invalid input: predict() takes a Float32Array, but got ${typeName(input)}. Convert it with Float32Array.from(values).`,
      );
    }
    this.checkTensor(input, height, width, '');
    if (this.description.inputSpace !== 'pixels') return executor.run(input, height, width);
    if (!this.normalizedBuffer || this.normalizedBuffer.length !== input.length) {
      this.normalizedBuffer = new Float32Array(input.length);
    }
    this.normalizePixels(input, this.normalizedBuffer, 0);
    return executor.run(this.normalizedBuffer, height, width);
  }

  /**
   * predict() for several tensors of the same size at once, returning one
   * output per tensor. The batch runs as one pass over the network, so each
   * weight is loaded once for all the images; outputs equal predict()'s.
   */
  predictBatch(inputs: Float32Array[], size?: { height: number; width: number }): Float32Array[] {
    this.requireExecutor();
    const { height, width } = this.predictSize(size, 'predictBatch');
    if (!Array.isArray(inputs) || inputs.length === 0) {
      throw new TypeError('Invalid inputs: predictBatch() takes a non-empty array of Float32Array tensors.');
    }
    const count = height * width * this.description.graph.inputChannels;
    const batch = new Float32Array(count * inputs.length);
    inputs.forEach((input, index) => {
      if (!(input instanceof Float32Array)) {
        throw new TypeError(
          `Invalid inputs[${index}]: predictBatch() takes Float32Array tensors, but got ${typeName(input)}. ` +
            'Convert it with Float32Array.from(values).',
        );
      }
      this.checkTensor(input, height, width, `inputs[${index}] `);
      if (this.description.inputSpace === 'pixels') this.normalizePixels(input, batch, index * count);
      else batch.set(input, index * count);
    });
    // Copies, so that each returned output is its own array rather than a view of one buffer.
    return this.runStacked(batch, inputs.length, height, width).map((output) => output.slice());
  }

  /**
   * Decodes, resizes and normalizes an image, runs the model and returns the top
   * predictions. The image is a file path (Node), a URL, encoded file bytes (also
   * as a Blob or File), a pixel object { data, width, height, channels }, or a
   * browser image (img element, canvas, ImageBitmap, ImageData, VideoFrame).
   * With the batching option, calls that arrive together run as one batch.
   */
  async classify(image: ImageSource, options: ClassifyOptions = {}): Promise<Classification> {
    const { topK, threshold } = this.checkClassify(options);
    const start = performance.now();
    const pixels = await readImage(image);
    const decoded = performance.now();
    const { height, width } = this.imageSize(pixels, options);
    const count = height * width * this.description.graph.inputChannels;
    let scores: Float32Array;
    let inferenceMs: number;
    let preprocessed: number;
    if (this.batching) {
      const input = this.preprocess(pixels, height, width, options, new Float32Array(count));
      preprocessed = performance.now();
      ({ scores, inferenceMs } = await this.enqueue(input, height, width));
    } else {
      const executor = this.requireExecutor();
      if (!this.inputBuffer || this.inputBuffer.length !== count) this.inputBuffer = new Float32Array(count);
      const input = this.preprocess(pixels, height, width, options, this.inputBuffer);
      preprocessed = performance.now();
      scores = executor.run(input, height, width);
      inferenceMs = performance.now() - preprocessed;
    }
    this.checkScores(scores, '');
    return {
      predictions: topPredictions(scores, this.labels, topK, threshold),
      timings: {
        decodeMs: decoded - start,
        preprocessMs: preprocessed - decoded,
        inferenceMs,
        totalMs: performance.now() - start,
      },
    };
  }

  /**
   * Classifies many images, running them in batches of batchSize (default: the
   * batching option's maxBatch, else 8) to share weight loads, and returns one
   * result per image in order. Images are decoded concurrently; images of
   * different sizes (on a model that takes any size) run in separate batches.
   * Each result's inferenceMs is its batch's time.
   */
  async classifyBatch(images: ImageSource[], options: ClassifyOptions & { batchSize?: number } = {}): Promise<Classification[]> {
    const { topK, threshold } = this.checkClassify(options);
    if (!Array.isArray(images)) throw new TypeError('Invalid images: classifyBatch() takes an array of images.');
    const batchSize = options.batchSize ?? this.batching?.maxBatch ?? DEFAULT_BATCH;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new Error(`Invalid batchSize: expected a positive integer, but got ${shown(batchSize)}.`);
    }
    const start = performance.now();
    const decoded = await Promise.all(images.map(async (image, index) => {
      const begin = performance.now();
      let pixels: PixelData;
      try {
        pixels = await readImage(image);
      } catch (error) {
        // One unreadable image fails the whole call, so the message names which one it was.
        if (error instanceof Error) error.message = `classifyBatch() image ${index}: ${error.message}`;
        throw error;
      }
      return { pixels, decodeMs: performance.now() - begin };
    }));
    const channels = this.description.graph.inputChannels;
    const prepared = decoded.map(({ pixels, decodeMs }, index) => {
      const { height, width } = this.imageSize(pixels, options);
      const begin = performance.now();
      const input = this.preprocess(pixels, height, width, options, new Float32Array(height * width * channels));
      return { index, input, height, width, decodeMs, preprocessMs: performance.now() - begin };
    });
    const results: Classification[] = new Array(images.length);
    for (const chunk of batchesBySize(prepared, batchSize)) {
      const begin = performance.now();
      const outputs = this.runBatch(chunk.map((entry) => entry.input), chunk[0].height, chunk[0].width);
      const inferenceMs = performance.now() - begin;
      chunk.forEach((entry, position) => {
        this.checkScores(outputs[position], `for image ${entry.index} `);
        results[entry.index] = {
          predictions: topPredictions(outputs[position], this.labels, topK, threshold),
          timings: {
            decodeMs: entry.decodeMs,
            preprocessMs: entry.preprocessMs,
            inferenceMs,
            totalMs: performance.now() - start,
          },
        };
      });
    }
    return results;
  }

  /** Releases the model's wasm memory and its place in the thread pool. Any later call on the model throws. */
  dispose(): void {
    if (this.flushTimer !== null) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    const pending = this.queue;
    this.queue = [];
    this.kernels?.dispose();
    this.kernels = null;
    this.executor = null;
    this.inputBuffer = null;
    this.normalizedBuffer = null;
    for (const entry of pending) entry.reject(new Error(`${this.description.name} was disposed before its queued classify() ran.`));
  }

  /** Runs normalized tensors of one size as one batch and returns each one's output. */
  private runBatch(inputs: Float32Array[], height: number, width: number): Float32Array[] {
    const count = inputs[0].length;
    const batch = new Float32Array(count * inputs.length);
    inputs.forEach((input, index) => batch.set(input, index * count));
    return this.runStacked(batch, inputs.length, height, width);
  }

  /** Runs a tensor of images one after another, and returns each image's output as a view into one result. */
  private runStacked(batch: Float32Array, images: number, height: number, width: number): Float32Array[] {
    const output = this.requireExecutor().run(batch, height, width, images);
    const per = output.length / images;
    return Array.from({ length: images }, (_, index) => output.subarray(index * per, (index + 1) * per));
  }

  /** Queues a normalized input for the next batch of the batching option. */
  private enqueue(input: Float32Array, height: number, width: number): Promise<{ scores: Float32Array; inferenceMs: number }> {
    const batching = this.batching!;
    return new Promise((resolve, reject) => {
      this.queue.push({ input, height, width, resolve, reject });
      if (this.queue.length >= batching.maxBatch) this.flush();
      else this.flushTimer ??= setTimeout(() => this.flush(), batching.maxDelayMs);
    });
  }

  /** Runs everything queued, in batches of at most maxBatch images of one size. */
  private flush(): void {
    if (this.flushTimer !== null) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    const entries = this.queue;
    this.queue = [];
    for (const chunk of batchesBySize(entries, this.batching!.maxBatch)) {
      try {
        const begin = performance.now();
        const outputs = this.runBatch(chunk.map((entry) => entry.input), chunk[0].height, chunk[0].width);
        const inferenceMs = performance.now() - begin;
        chunk.forEach((entry, index) => entry.resolve({ scores: outputs[index], inferenceMs }));
      } catch (error) {
        for (const entry of chunk) entry.reject(error);
      }
    }
  }

  /** Validates classify options and warns once when the normalization is assumed. */
  private checkClassify(options: ClassifyOptions): { topK: number; threshold: number } {
    this.requireExecutor();
    const { graph, normalization } = this.description;
    if (!graph.classifier) {
      throw new Error(`${this.description.name} has no classifier (it outputs features), so it cannot classify. Use predict().`);
    }
    const topK = options.topK ?? 5;
    if (!Number.isInteger(topK) || topK < 1) throw new Error(`Invalid topK: expected a positive integer, but got ${topK}.`);
    const threshold = options.scoreThreshold ?? 0;
    if (!Number.isFinite(threshold)) throw new Error(`Invalid scoreThreshold: expected a number, but got ${threshold}.`);
    if (this.description.normalizationAssumed && !this.warnedAssumedNormalization) {
      this.warnedAssumedNormalization = true;
      const { mean, std } = normalization;
      console.warn(
        `efficientnet-wasm: ${this.description.name} does not state how its input is normalized, so classify() ` +
          `assumes (pixel - [${mean.join(', ')}]) / [${std.join(', ')}]. If the model was trained on other input, ` +
          'pass loadModel(source, { normalization: { mean, std } }) (CLI: --mean and --std) in 0-255 pixel units.',
      );
    }
    return { topK, threshold };
  }

  /** The size an image runs at: the model's fixed size, the inputSize option, or the image's own. */
  private imageSize(pixels: PixelData, options: ClassifyOptions): { height: number; width: number } {
    const { graph } = this.description;
    return {
      height: graph.inputHeight ?? options.inputSize?.height ?? pixels.height,
      width: graph.inputWidth ?? options.inputSize?.width ?? pixels.width,
    };
  }

  /** Resizes and normalizes decoded pixels into target. */
  private preprocess(pixels: PixelData, height: number, width: number, options: ClassifyOptions, target: Float32Array): Float32Array {
    const { normalization } = this.description;
    return preprocessInto(
      pixels,
      {
        width,
        height,
        fit: options.fit ?? 'stretch',
        mean: normalization.mean,
        std: normalization.std,
        round: this.quantizationGrid,
      },
      target,
    );
  }

  private checkScores(scores: Float32Array, where: string): void {
    const bad = scores.findIndex((score) => !Number.isFinite(score));
    if (bad >= 0) {
      throw new Error(
        `${this.description.name} produced a non-finite score ${where}(${scores[bad]} at output ${bad}). ` +
          'The weights may be corrupt; check the model file.',
      );
    }
  }

  /** The input size of predict(): the size given, else the model's fixed size. */
  private predictSize(size: { height: number; width: number } | undefined, method: string): { height: number; width: number } {
    const { graph } = this.description;
    const height = size?.height ?? graph.inputHeight;
    const width = size?.width ?? graph.inputWidth;
    if (height === null || width === null) {
      throw new Error(`Missing input size: this model accepts any size, so pass { height, width } to ${method}().`);
    }
    return { height, width };
  }

  /** Checks a tensor's length and values; warns once when a pixel-space model gets values that look scaled to 0-1. */
  private checkTensor(input: Float32Array, height: number, width: number, name: string): void {
    const channels = this.description.graph.inputChannels;
    const expected = height * width * channels;
    if (input.length !== expected) {
      throw new Error(
        `Invalid ${name}input length: a ${height}x${width}x${channels} tensor has ${expected} values, but got ${input.length}.`,
      );
    }
    let largest = -Infinity;
    for (let i = 0; i < input.length; i++) {
      const value = input[i];
      if (!Number.isFinite(value)) {
        throw new Error(`Invalid ${name}input: value ${value} at index ${i}; every input value must be a finite number.`);
      }
      if (value > largest) largest = value;
    }
    if (this.description.inputSpace === 'pixels' && largest <= 1 && !this.warnedUnitRange) {
      this.warnedUnitRange = true;
      console.warn(
        `efficientnet-wasm: the input to ${this.description.name} looks scaled to 0-1 (largest value ${largest}), ` +
          'but this model takes 0-255 pixel values and normalizes them itself. Pass unscaled pixels.',
      );
    }
  }

  /** Writes (pixel - mean) / std of a pixel-space tensor into target at offset. */
  private normalizePixels(input: Float32Array, target: Float32Array, offset: number): void {
    const { mean, std } = this.description.normalization;
    for (let i = 0; i < input.length; i++) target[offset + i] = (input[i] - mean[i % 3]) / std[i % 3];
  }

  private requireExecutor(): GraphExecutor {
    if (!this.executor) throw new Error(`${this.description.name} was disposed; load the model again to use it.`);
    return this.executor;
  }

  private requireKernels(): KernelInstance {
    if (!this.kernels) throw new Error(`${this.description.name} was disposed; load the model again to use it.`);
    return this.kernels;
  }
}

/** Decodes an image, fetching it first when it is given by URL. */
async function readImage(image: ImageSource): Promise<PixelData> {
  if (image instanceof URL || (typeof image === 'string' && isUrlString(image))) {
    const { bytes, name } = await readSource(image, 'image');
    return decodeImageBytes(bytes, name);
  }
  return decodeImage(image);
}

/** Picks the topK highest scores at or above threshold, best first (ties keep the lower index first). */
export function topPredictions(scores: Float32Array, labels: string[] | null, topK: number, threshold: number): Prediction[] {
  const order: number[] = [];
  for (let i = 0; i < scores.length; i++) {
    if (!(scores[i] >= threshold)) continue;
    order.push(i);
  }
  order.sort((a, b) => scores[b] - scores[a] || a - b);
  return order.slice(0, topK).map((index) => ({
    index,
    label: labels?.[index] ?? `class ${index}`,
    score: scores[index],
  }));
}
