export { loadModel, createModel, readModelDescription, Model, topPredictions } from './model.js';
export { serializeModel } from './formats/safetensors/index.js';
export type {
  LoadModelOptions,
  ClassifyOptions,
  Classification,
  Prediction,
  Timings,
  ModelInfo,
} from './model.js';
export type { ModelSource } from './source.js';
export {
  listModels,
  downloadModel,
  modelRegistry,
  ModelDownloadError,
  DEFAULT_MODEL_NAME,
  MODEL_ZOO,
  type ModelDownloadOptions,
  type ModelListing,
  type DownloadProgress,
  type ProgressCallback,
  type ZooEntry,
  type ZooFile,
  type ZooFormat,
} from './zoo/index.js';
export { wasmSupport, type WasmPath, type WasmSupport } from './wasm/instantiate.js';
export { hasWasmSimd } from './wasm/features.js';
export {
  efficientNetArchitecture,
  randomGraph,
  buildGraph,
  EFFICIENTNET_VARIANTS,
  COMPOUND_SCALING,
  type Architecture,
  type BlockArchitecture,
  type EfficientNetVariant,
} from './graph/configs.js';
export type * from './graph/spec.js';
export type { BrowserImageSource, ImageInput, ImageSource, PixelData } from './image/index.js';
export { ImageDecodeError } from './image/errors.js';
export { TfliteFormatError } from './formats/tflite/errors.js';
export { TfjsFormatError } from './formats/tfjs/errors.js';
export { ThreadStartError } from './wasm/threads.js';
export type { TfjsModelFiles } from './formats/tfjs/index.js';
