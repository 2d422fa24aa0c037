// The networks of the side-by-side benchmark, the files each runtime loads,
// and the input images every runtime receives.
//
// The parent process writes every model file once (prepareModelFiles), so each
// runtime's child process measures its cold start from files on disk:
// - <dir>/b0.safetensors: the EfficientNet-B0 Graph with seeded random weights
//   and BatchNorm unfolded, in this package's own file format (serializeModel),
//   which this package loads as a user would, with loadModel;
// - <dir>/b0.graph: the same Graph as v8.serialize bytes (tfjs, Keras-style);
// - <dir>/b0-folded.graph: the same Graph with BatchNorm folded into each
//   convolution's weights and bias (tfjs, folded);
// - <dir>/b0.onnx: the folded Graph as ONNX (onnxruntime-web and onnxruntime-node);
// - the quantized TFLite fixtures (this package and TFLite's wasm runtime),
//   read where they are.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';

export const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
export const distEntry = path.join(root, 'dist', 'index.js');
export const fixturesDir = path.resolve(root, '..', 'shared', 'fixtures', 'models');

/** Seed and weight gain of the random B0. Gain 2 keeps the logits dependent on the input through 16 swish blocks. */
export const B0_SEED = 1;
export const B0_GAIN = 2;

/** Number of images in a batched run: one [BATCH, 224, 224, 3] input, or BATCH single calls where a runtime takes no batch. */
export const BATCH = 8;

export const NETWORKS = {
  b0: {
    id: 'b0',
    short: 'EfficientNet-B0',
    title: `EfficientNet-B0, float32, seeded random weights (seed ${B0_SEED}, gain ${B0_GAIN}), 224x224`,
    size: 224,
    // Normalized float input in [-1, 1], as the Graph takes it.
    inputSpace: 'normalized',
  },
  lite0: {
    id: 'lite0',
    short: 'EfficientNet-Lite0 int8',
    title: 'EfficientNet-Lite0 int8 (fixture efficientnet_lite0_flowers_int8.tflite, 5 classes), 224x224',
    size: 224,
    // 0-255 integer pixel values: this package quantizes them to the uint8 input itself.
    inputSpace: 'pixels',
    file: path.join(fixturesDir, 'efficientnet_lite0_flowers_int8.tflite'),
  },
  mobilenet: {
    id: 'mobilenet',
    short: 'MobileNetV2 uint8',
    title: 'MobileNetV2 1.0 uint8 (fixture mobilenet_v2_1.0_224_quant.tflite, 1001 classes), 224x224',
    size: 224,
    inputSpace: 'pixels',
    file: path.join(fixturesDir, 'mobilenet_v2_1.0_224_quant.tflite'),
  },
};

/**
 * Returns image number `index` of a network as NHWC float32 [size, size, 3]:
 * smooth patterns with a different phase per image, so the images of a batch
 * differ. Pixel-space networks get integers in 1..255.
 */
export function makeImage(network, index) {
  const count = network.size * network.size * 3;
  const image = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const wave = Math.sin(i * 0.001 + index * 0.7) * Math.cos(i * 0.00013 + index);
    image[i] = network.inputSpace === 'pixels' ? Math.round(128 + 127 * wave) : wave;
  }
  return image;
}

/** Concatenates NHWC images into one [batch, H, W, C] array. */
export function stackImages(images) {
  const out = new Float32Array(images.reduce((total, image) => total + image.length, 0));
  let offset = 0;
  for (const image of images) {
    out.set(image, offset);
    offset += image.length;
  }
  return out;
}

/** Transposes [batch, H, W, C] to [batch, C, H, W] for ONNX. */
export function nhwcToNchw(data, batch, height, width, channels) {
  const out = new Float32Array(data.length);
  for (let n = 0; n < batch; n++) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        for (let c = 0; c < channels; c++) {
          out[((n * channels + c) * height + y) * width + x] = data[((n * height + y) * width + x) * channels + c];
        }
      }
    }
  }
  return out;
}

/**
 * Returns a copy of a Graph with every BatchNorm folded into the layer before
 * it (weights scaled per output channel, bias = scale * (bias - mean) + beta),
 * with the same fold the executor applies at load time.
 */
export function foldGraph(graph, { foldBatchNorm, scaleOutputChannels }) {
  const fold = (layer, name) => {
    if (!layer.batchNorm) return { ...layer };
    const { scale, bias } = foldBatchNorm(layer.batchNorm, layer.bias, name);
    const { batchNorm, ...rest } = layer;
    return { ...rest, weight: scaleOutputChannels(layer.weight, scale), bias };
  };
  return {
    ...graph,
    stem: fold(graph.stem, 'stem'),
    blocks: graph.blocks.map((block, index) => ({
      ...block,
      expand: block.expand ? fold(block.expand, `block${index}_expand`) : null,
      depthwise: fold(block.depthwise, `block${index}_dwconv`),
      se: block.se ? { reduce: fold(block.se.reduce, `block${index}_se_reduce`), expand: fold(block.se.expand, `block${index}_se_expand`) } : null,
      project: fold(block.project, `block${index}_project`),
    })),
    head: graph.head ? fold(graph.head, 'top_conv') : null,
    hidden: graph.hidden?.map((layer, index) => fold(layer, `hidden${index}`)),
    classifier: graph.classifier ? fold(graph.classifier, 'predictions') : null,
  };
}

/** Wraps the random B0 graph in a model description: no labels, input already normalized. */
export function b0Description(graph) {
  return {
    name: 'efficientnet-b0',
    format: 'builtin',
    graph,
    labels: null,
    normalization: { mean: [0, 0, 0], std: [1, 1, 1] },
    quantized: false,
  };
}

/** Reads a Graph written by prepareModelFiles. */
export function readGraphFile(file) {
  return v8.deserialize(readFileSync(file));
}

/**
 * Writes the model files of the benchmark into dir and returns their paths.
 * Throws when dist/ is missing, because the graphs come from this package.
 */
export async function prepareModelFiles(dir) {
  if (!existsSync(distEntry)) {
    throw new Error(`${distEntry} is missing: run "npm run build" before "npm run bench".`);
  }
  const { efficientNetArchitecture, randomGraph, serializeModel } = await import(distEntry);
  const batchnorm = await import(path.join(root, 'dist', 'graph', 'batchnorm.js'));
  const { graphToOnnx } = await import('./onnx-writer.mjs');

  mkdirSync(dir, { recursive: true });
  const graph = randomGraph(efficientNetArchitecture('b0'), B0_SEED, { gain: B0_GAIN });
  const folded = foldGraph(graph, batchnorm);
  const files = {
    modelFile: path.join(dir, 'b0.safetensors'),
    graph: path.join(dir, 'b0.graph'),
    foldedGraph: path.join(dir, 'b0-folded.graph'),
    onnx: path.join(dir, 'b0.onnx'),
  };
  writeFileSync(files.modelFile, serializeModel(b0Description(graph)));
  writeFileSync(files.graph, v8.serialize(graph));
  writeFileSync(files.foldedGraph, v8.serialize(folded));
  writeFileSync(files.onnx, graphToOnnx(folded, { name: 'efficientnet_b0' }));
  return files;
}
