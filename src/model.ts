import { importModel } from './formats/index.js';
import { isTfjsModelFiles } from './formats/sniff.js';
import { importTfjsFiles } from './formats/tfjs/index.js';
import { GraphExecutor } from './graph/executor.js';
import type { ModelDescription, Normalization } from './graph/spec.js';
import { decodeImage, decodeImageBytes, preprocessInto, type ImageSource, type PixelData } from './image/index.js';
import { isUrlString, readSource, type ModelSource } from './source.js';
import { KernelInstance, type WasmPath } from './wasm/instantiate.js';
import { resolveModelSource, type ModelDownloadOptions } from './zoo/index.js';

export interface LoadModelOptions extends ModelDownloadOptions {
  /** Kernel build: 'auto' (SIMD when the runtime supports it), 'simd' or 'scalar'. */
  wasmPath?: WasmPath | 'auto';
  /**
   * A compiled kernel build (the default import of 'efficientnet-wasm/kernels-simd.wasm'
   * or 'kernels-scalar.wasm') used in place of compiling the embedded one. Needed where
   * compiling wasm at run time is forbidden: Cloudflare Workers and workerd.
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
  // The kernels compile, and run their warm-up, while the model file is read.
  const kernels = KernelInstance.create(options.wasmPath ?? 'auto', options.wasmModule);
  // A kernel error can arrive while the file is still being read. The await below reports it,
  // or it is dropped when the read fails first. Without a handler now, Node would end the
  // process on the unhandled rejection.
  kernels.catch(() => undefined);
  const description = await readModelDescription(source, options);
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
  return createModelOn(description, options, await KernelInstance.create(options.wasmPath ?? 'auto', options.wasmModule));
}

/** Prepares a description to run on a given kernel instance. */
function createModelOn(description: ModelDescription, options: LoadModelOptions, kernels: KernelInstance): Model {
  if (options.normalization !== undefined) {
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
  return new Model(description, kernels, executor, labels, quantizationGrid);
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

/** A loaded model: classify images, run raw predictions, and release it with dispose(). */
export class Model {
  private readonly description: ModelDescription;
  private kernels: KernelInstance | null;
  private executor: GraphExecutor | null;
  private readonly labels: string[] | null;
  private readonly quantizationGrid: boolean;
  private inputBuffer: Float32Array | null = null;
  /** Scratch for predict() on models that take pixels: the normalized tensor. */
  private normalizedBuffer: Float32Array | null = null;
  private warnedUnitRange = false;
  private warnedAssumedNormalization = false;

  /** @internal Use loadModel or createModel. */
  constructor(
    description: ModelDescription,
    kernels: KernelInstance,
    executor: GraphExecutor,
    labels: string[] | null,
    quantizationGrid: boolean,
  ) {
    this.description = description;
    this.kernels = kernels;
    this.executor = executor;
    this.labels = labels;
    this.quantizationGrid = quantizationGrid;
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
      threads: 1,
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
    const { graph } = this.description;
    const height = size?.height ?? graph.inputHeight;
    const width = size?.width ?? graph.inputWidth;
    if (height === null || width === null) {
      throw new Error('Missing input size: this model accepts any size, so pass { height, width } to predict().');
    }
    if (!(input instanceof Float32Array)) {
      throw new TypeError(`Invalid input: predict() takes a Float32Array, but got ${input === null ? 'null' : typeof input}.`);
    }
    const expected = height * width * graph.inputChannels;
    if (input.length !== expected) {
      throw new Error(
        `Invalid input length: a ${height}x${width}x${graph.inputChannels} tensor has ${expected} values, but got ${input.length}.`,
      );
    }
    let largest = -Infinity;
    for (let i = 0; i < input.length; i++) {
      const value = input[i];
      if (!Number.isFinite(value)) {
        throw new Error(`Invalid input: value ${value} at index ${i}; every input value must be a finite number.`);
      }
      if (value > largest) largest = value;
    }
    if (this.description.inputSpace !== 'pixels') return executor.run(input, height, width);

    if (largest <= 1 && !this.warnedUnitRange) {
      this.warnedUnitRange = true;
      console.warn(
        `efficientnet-wasm: the input to ${this.description.name} looks scaled to 0-1 (largest value ${largest}), ` +
          'but this model takes 0-255 pixel values and normalizes them itself. Pass unscaled pixels.',
      );
    }
    if (!this.normalizedBuffer || this.normalizedBuffer.length !== input.length) {
      this.normalizedBuffer = new Float32Array(input.length);
    }
    const { mean, std } = this.description.normalization;
    const normalized = this.normalizedBuffer;
    for (let i = 0; i < input.length; i++) normalized[i] = (input[i] - mean[i % 3]) / std[i % 3];
    return executor.run(normalized, height, width);
  }

  /**
   * Decodes, resizes and normalizes an image, runs the model and returns the top
   * predictions. The image is a file path (Node), a URL, encoded file bytes (also
   * as a Blob or File), a pixel object { data, width, height, channels }, or a
   * browser image (img element, canvas, ImageBitmap, ImageData, VideoFrame).
   */
  async classify(image: ImageSource, options: ClassifyOptions = {}): Promise<Classification> {
    const executor = this.requireExecutor();
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
    const start = performance.now();
    const pixels = await readImage(image);
    const decoded = performance.now();
    const height = graph.inputHeight ?? options.inputSize?.height ?? pixels.height;
    const width = graph.inputWidth ?? options.inputSize?.width ?? pixels.width;
    const count = height * width * graph.inputChannels;
    if (!this.inputBuffer || this.inputBuffer.length !== count) this.inputBuffer = new Float32Array(count);
    const input = preprocessInto(
      pixels,
      {
        width,
        height,
        fit: options.fit ?? 'stretch',
        mean: normalization.mean,
        std: normalization.std,
        round: this.quantizationGrid,
      },
      this.inputBuffer,
    );
    const preprocessed = performance.now();
    const scores = executor.run(input, height, width);
    const finished = performance.now();
    const bad = scores.findIndex((score) => !Number.isFinite(score));
    if (bad >= 0) {
      throw new Error(
        `${this.description.name} produced a non-finite score (${scores[bad]} at output ${bad}). ` +
          'The weights may be corrupt; check the model file.',
      );
    }

    return {
      predictions: topPredictions(scores, this.labels, topK, threshold),
      timings: {
        decodeMs: decoded - start,
        preprocessMs: preprocessed - decoded,
        inferenceMs: finished - preprocessed,
        totalMs: finished - start,
      },
    };
  }

  /** Releases the model's wasm memory. Any later call on the model throws. */
  dispose(): void {
    this.kernels = null;
    this.executor = null;
    this.inputBuffer = null;
    this.normalizedBuffer = null;
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
