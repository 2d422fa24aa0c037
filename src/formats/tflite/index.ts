/**
 * TFLite importer: reads a .tflite FlatBuffer and its metadata and maps the
 * model onto the MBConv-family graph (src/graph/spec.ts).
 */
import type { ModelDescription, Normalization } from '../../graph/spec.js';
import { isTflite } from '../sniff.js';
import { TfliteFormatError } from './flatbuffer.js';
import { mapSubgraph, type InputAffine } from './mapper.js';
import { readLabels, readModelMetadata, type ModelMetadataSummary } from './metadata.js';
import { readTfliteModel, TensorType, TFLITE_IDENTIFIER, type TfliteModel, type TfliteTensor } from './schema.js';

export { TfliteFormatError } from './flatbuffer.js';
export { isTflite };

export interface ImportTfliteOptions {
  /** File name or URL of the model, used in error messages and as the fallback model name. */
  source: string;
}


/**
 * Imports a TFLite image classifier or feature extractor of the EfficientNet(-Lite) or
 * MobileNetV2 family. Throws a TfliteFormatError that names the file, the operator or
 * tensor and the fix when the file is invalid or uses something the graph cannot express.
 */
export async function importTflite(bytes: Uint8Array, options: ImportTfliteOptions): Promise<ModelDescription> {
  const { source } = options;
  if (!isTflite(bytes)) throw notTflite(bytes, source);

  const model = readTfliteModel(bytes, source);
  const { graph, inputAffine, outputGrid } = mapSubgraph(model, source);
  const metadata = readModelMetadata(model, source);
  const input = model.subgraphs[0].tensors[model.subgraphs[0].inputs[0]];

  let labels: string[] | null = null;
  if (metadata?.labelFile) {
    labels = await readLabels(bytes, metadata.labelFile, source);
    const classes = graph.classifier?.outChannels;
    if (classes !== undefined && labels.length !== classes) {
      throw new TfliteFormatError(
        `Invalid labels in ${source}: ${metadata.labelFile} must have one line per class (${classes}), ` +
          `but it has ${labels.length}. Write the metadata again with the label file of this model.`,
      );
    }
  }

  return {
    name: metadata?.name || nameFromSource(source),
    format: 'tflite',
    graph,
    labels,
    normalization: normalizationFor(input, inputAffine, metadata, source),
    // An integer input tensor takes pixel bytes as they are, so predict() takes 0-255 pixels too.
    inputSpace: input.type === TensorType.UINT8 || input.type === TensorType.INT8 ? 'pixels' : 'normalized',
    // A float input without NormalizationOptions metadata gets the assumed [-1, 1] range (see normalizationFor).
    ...(isFloatInput(input) && !metadata?.normalization ? { normalizationAssumed: true } : {}),
    quantized: hasIntegerWeights(model),
    ...(outputGrid ? { outputGrid } : {}),
  };
}

function isFloatInput(input: TfliteTensor): boolean {
  return input.type !== TensorType.UINT8 && input.type !== TensorType.INT8;
}

function notTflite(bytes: Uint8Array, source: string): TfliteFormatError {
  if (bytes.length === 0) {
    return new TfliteFormatError(`Invalid TFLite file ${source}: the file is empty. Check the path or download it again.`);
  }
  const head = Array.from(bytes.subarray(0, 8), (byte) => byte.toString(16).padStart(2, '0')).join(' ');
  const text = Array.from(bytes.subarray(0, 8), (byte) => (byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : '.')).join('');
  return new TfliteFormatError(
    `Invalid TFLite file ${source}: bytes 4..8 must be the identifier "${TFLITE_IDENTIFIER}", ` +
      `but the file starts with ${head} ("${text}", ${bytes.length} bytes in all). ` +
      'Pass a .tflite model file; convert other formats with the TensorFlow Lite converter.',
  );
}

function nameFromSource(source: string): string {
  const path = source.split(/[?#]/)[0];
  const file = path.split(/[\\/]/).filter(Boolean).pop() ?? source;
  return file.replace(/\.tflite$/i, '') || source;
}

function hasIntegerWeights(model: TfliteModel): boolean {
  return model.subgraphs[0].tensors.some(
    (tensor) =>
      (tensor.type === TensorType.INT8 || tensor.type === TensorType.UINT8) &&
      tensor.buffer !== 0 &&
      (model.buffers[tensor.buffer]?.length ?? 0) > 0,
  );
}

/**
 * Derives how 0-255 pixels become the stem input, (pixel - mean) / std per channel.
 * First the pixel becomes the real value of the model input tensor:
 * - uint8 input: TFLite reads the pixel byte as q, so real = (pixel - zeroPoint) * scale;
 * - int8 input: q = pixel - 128, so real = (pixel - 128 - zeroPoint) * scale;
 * - float input: real = (pixel - mean) / std from the metadata's NormalizationOptions.
 * Then the operators folded in front of the stem apply stemInput = real * gain + offset.
 */
function normalizationFor(
  input: TfliteTensor,
  affine: InputAffine,
  metadata: ModelMetadataSummary | null,
  source: string,
): Normalization {
  let mean: number[];
  let std: number[];
  if (input.type === TensorType.UINT8 || input.type === TensorType.INT8) {
    const scale = input.quantization?.scale[0];
    const zeroPoint = input.quantization?.zeroPoint[0] ?? 0;
    if (input.quantization === null || input.quantization.scale.length !== 1 || !(scale! > 0)) {
      throw new TfliteFormatError(
        `Invalid TFLite model in ${source}: the ${input.type === TensorType.UINT8 ? 'uint8' : 'int8'} model input ` +
          'must have one positive quantization scale, but it has none. Export the model with a quantized input.',
      );
    }
    const offset = input.type === TensorType.INT8 ? 128 : 0;
    mean = [0, 1, 2].map(() => zeroPoint + offset);
    std = [0, 1, 2].map(() => 1 / scale!);
  } else if (metadata?.normalization) {
    mean = perChannel(metadata.normalization.mean, 'mean', source);
    std = perChannel(metadata.normalization.std, 'std', source);
  } else {
    // NOTE: a float model without NormalizationOptions does not state its input range. Mean 127.5 and
    // std 127.5 (pixels to [-1, 1]) is a guess that fits MobileNet and EfficientNet-Lite exports, but a
    // model trained on [0, 1] or ImageNet mean/std inputs needs the normalization set by hand.
    mean = [127.5, 127.5, 127.5];
    std = [127.5, 127.5, 127.5];
  }

  // stemInput = ((pixel - mean) / std) * gain + offset = (pixel - (mean - offset * std / gain)) / (std / gain)
  const result: Normalization = { mean: [0, 0, 0], std: [1, 1, 1] };
  for (let c = 0; c < 3; c++) {
    const gain = affine.gain[c];
    if (gain === 0 || !Number.isFinite(gain)) {
      throw new TfliteFormatError(
        `Unsupported TFLite model in ${source}: the operators before the stem multiply channel ${c} by ${gain}, ` +
          'so the input cannot be normalized. The file is corrupt; export it again.',
      );
    }
    result.std[c] = snapToFloat32Rounding(std[c] / gain);
    result.mean[c] = snapToFloat32Rounding(mean[c] - (affine.offset[c] * std[c]) / gain);
  }
  return result;
}

/**
 * Snaps a value to the nearest multiple of 1/1024 when it lies within float32 rounding of it.
 * Scales stored as float32 (0.498039... for 127/255) otherwise turn a mean of 127 into 126.9999925.
 */
function snapToFloat32Rounding(value: number): number {
  const snapped = Math.round(value * 1024) / 1024;
  return Math.abs(snapped - value) <= 1e-6 * Math.max(1, Math.abs(value)) ? snapped : value;
}

function perChannel(values: number[], field: string, source: string): number[] {
  if (values.length === 1) return [values[0], values[0], values[0]];
  if (values.length === 3) return values;
  throw new TfliteFormatError(
    `Invalid TFLite metadata in ${source}: NormalizationOptions.${field} must have 1 or 3 values, but it has ${values.length}. ` +
      'Write the metadata again.',
  );
}
