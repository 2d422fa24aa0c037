/**
 * Writes TF.js LayersModel files in the tests: Keras 2 and Keras 3 topologies
 * from one list of layers, and weight manifests with their shard bytes
 * (float32, float16, int32 and the converter's uint8/uint16/float16
 * quantization).
 */
import { Random } from './prng.js';

/** One weight to write, with the manifest name it gets in Keras 2 files. */
export interface TestWeight {
  name: string;
  shape: number[];
  values: Float32Array;
  dtype?: 'float32' | 'float16' | 'int32';
  quantization?: 'uint8' | 'uint16' | 'float16';
}

/** One layer: its class, name, config, the layers whose outputs it reads (default: the previous one) and its weights. */
export interface TestLayer {
  className: string;
  name: string;
  config?: Record<string, unknown>;
  inputs?: string[];
  weights?: TestWeight[];
  /** For a nested model: its own layers, inlined by the importer. */
  layers?: TestLayer[];
}

type Json = Record<string, unknown>;

/** Writes a Keras 2 (tfjs-layers style) Functional config: batch_input_shape and list-style inbound nodes. */
export function keras2Model(name: string, layers: TestLayer[]): Json {
  const entries = layers.map((layer, index) => {
    const config: Json = { name: layer.name, trainable: true, ...layer.config };
    if (layer.layers) {
      const nested = keras2Model(layer.name, layer.layers);
      Object.assign(config, nested.config as Json);
    }
    const inputs = inputsOf(layers, index);
    const inboundNodes =
      layer.className === 'InputLayer'
        ? []
        // A nested model's call is its node 1, because Keras counts the node that built it.
        : [inputs.map((input) => [input, nestedModel(layers, input) ? 1 : 0, 0, {}])];
    return { class_name: layer.className, name: layer.name, config, inbound_nodes: inboundNodes };
  });
  const last = layers[layers.length - 1].name;
  return {
    class_name: 'Functional',
    config: {
      name,
      layers: entries,
      input_layers: [[layers[0].name, 0, 0]],
      output_layers: [[last, nestedModel(layers, last) ? 1 : 0, 0]],
    },
  };
}

/** Writes the same model in the Keras 3 form: batch_shape, module keys and {args, kwargs} inbound nodes. */
export function keras3Model(name: string, layers: TestLayer[]): Json {
  const entries = layers.map((layer, index) => {
    const config: Json = { name: layer.name, trainable: true, dtype: { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' } }, ...layer.config };
    if ('batch_input_shape' in config) {
      config.batch_shape = config.batch_input_shape;
      delete config.batch_input_shape;
    }
    if (layer.layers) Object.assign(config, keras3Model(layer.name, layer.layers).config as Json);
    const tensors = inputsOf(layers, index).map((input) => ({
      class_name: '__keras_tensor__',
      config: { shape: [null], dtype: 'float32', keras_history: [input, nestedModel(layers, input) ? 1 : 0, 0] },
    }));
    const inboundNodes = layer.className === 'InputLayer' ? [] : [{ args: tensors.length === 1 ? tensors : [tensors], kwargs: {} }];
    return {
      module: layer.layers ? 'keras.src.models.functional' : 'keras.layers',
      class_name: layer.className,
      config,
      registered_name: null,
      name: layer.name,
      inbound_nodes: inboundNodes,
    };
  });
  const last = layers[layers.length - 1].name;
  return {
    module: 'keras.src.models.functional',
    class_name: 'Functional',
    config: { name, trainable: true, layers: entries, input_layers: [layers[0].name, 0, 0], output_layers: [last, nestedModel(layers, last) ? 1 : 0, 0] },
    registered_name: 'Functional',
  };
}

function inputsOf(layers: TestLayer[], index: number): string[] {
  return layers[index].inputs ?? (index > 0 ? [layers[index - 1].name] : []);
}

function nestedModel(layers: TestLayer[], name: string): boolean {
  return layers.some((layer) => layer.name === name && layer.layers !== undefined);
}

/** Every weight of the layers, nested ones included, in layer order. */
export function allWeights(layers: TestLayer[]): TestWeight[] {
  return layers.flatMap((layer) => [...(layer.weights ?? []), ...(layer.layers ? allWeights(layer.layers) : [])]);
}

/** A weights manifest group and its shard files, by path. */
export interface EncodedWeights {
  manifest: Json[];
  files: Record<string, Uint8Array>;
}

/**
 * Encodes weights into one group whose bytes are cut into `shards` files. `rename` changes the manifest names
 * (to write Keras 3 or prefixed names).
 */
export function encodeWeights(weights: TestWeight[], shards = 1, rename: (weight: TestWeight) => string = (w) => w.name): EncodedWeights {
  const parts: Uint8Array[] = [];
  const specs = weights.map((weight) => {
    const { bytes, quantization } = encodeOne(weight);
    parts.push(bytes);
    return { name: rename(weight), shape: weight.shape, dtype: weight.dtype === 'int32' ? 'int32' : weight.dtype ?? 'float32', ...(quantization ? { quantization } : {}) };
  });
  const total = parts.reduce((sum, part) => sum + part.length, 0);
  const all = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    all.set(part, offset);
    offset += part.length;
  }
  const shardSize = Math.ceil(total / shards);
  const paths: string[] = [];
  const files: Record<string, Uint8Array> = {};
  for (let i = 0; i < shards; i++) {
    const path = `group1-shard${i + 1}of${shards}.bin`;
    paths.push(path);
    files[path] = all.slice(i * shardSize, Math.min(total, (i + 1) * shardSize));
  }
  return { manifest: [{ paths, weights: specs }], files };
}

function encodeOne(weight: TestWeight): { bytes: Uint8Array; quantization?: Json } {
  const count = weight.values.length;
  if (weight.quantization === 'uint8' || weight.quantization === 'uint16') {
    const levels = weight.quantization === 'uint8' ? 255 : 65535;
    const min = Math.min(...weight.values);
    const max = Math.max(...weight.values);
    const scale = max > min ? (max - min) / levels : 1;
    const bytes = new Uint8Array(count * (levels === 255 ? 1 : 2));
    const view = new DataView(bytes.buffer);
    weight.values.forEach((value, i) => {
      const q = Math.round((value - min) / scale);
      if (levels === 255) view.setUint8(i, q);
      else view.setUint16(2 * i, q, true);
    });
    return { bytes, quantization: { dtype: weight.quantization, min, scale } };
  }
  if (weight.quantization === 'float16' || weight.dtype === 'float16') {
    const bytes = new Uint8Array(count * 2);
    const view = new DataView(bytes.buffer);
    weight.values.forEach((value, i) => view.setUint16(2 * i, floatToHalf(value), true));
    return { bytes, ...(weight.quantization ? { quantization: { dtype: 'float16' } } : {}) };
  }
  const bytes = new Uint8Array(count * 4);
  const view = new DataView(bytes.buffer);
  weight.values.forEach((value, i) => (weight.dtype === 'int32' ? view.setInt32(4 * i, value, true) : view.setFloat32(4 * i, value, true)));
  return { bytes };
}

/** Rounds a number to the nearest half-precision bit pattern; exact for the values the tests use. */
export function floatToHalf(value: number): number {
  if (value === 0) return Object.is(value, -0) ? 0x8000 : 0;
  const sign = value < 0 ? 0x8000 : 0;
  const magnitude = Math.abs(value);
  let exponent = Math.floor(Math.log2(magnitude));
  if (exponent < -14) return sign | Math.round(magnitude / 2 ** -24);
  let mantissa = Math.round((magnitude / 2 ** exponent - 1) * 1024);
  if (mantissa === 1024) {
    mantissa = 0;
    exponent++;
  }
  return sign | ((exponent + 15) << 10) | mantissa;
}

/** Builds a model.json object; `wrap` puts the topology under model_config as the converter does. */
export function modelJson(topology: Json, manifest: Json[], wrap = true): Json {
  return {
    format: 'layers-model',
    generatedBy: 'keras v2.15.0',
    convertedBy: 'TensorFlow.js Converter v4.22.0',
    modelTopology: wrap ? { keras_version: '2.15.0', backend: 'tensorflow', model_config: topology } : topology,
    weightsManifest: manifest,
  };
}

/** Seeded layer factories with Keras's weight names. */
export class LayerFactory {
  private readonly random: Random;

  /**
   * @param gain variance of each kernel in units of 1/fanIn; swish and squeeze-excite shrink the signal,
   *   so a gain above 1 keeps the output of a small network sensitive to its input.
   */
  constructor(
    seed: number,
    private readonly gain = 1,
  ) {
    this.random = new Random(seed);
  }

  private values(count: number, low: number, high: number): Float32Array {
    return this.random.floats(count, low, high);
  }

  input(name: string, shape: Array<number | null>): TestLayer {
    return { className: 'InputLayer', name, config: { batch_input_shape: shape, dtype: 'float32', sparse: false } };
  }

  conv(name: string, inChannels: number, filters: number, kernel: number, options: { stride?: number; padding?: 'same' | 'valid'; bias?: boolean; activation?: string } = {}): TestLayer {
    const bias = options.bias ?? false;
    const limit = Math.sqrt((3 * this.gain) / (kernel * kernel * inChannels));
    return {
      className: 'Conv2D',
      name,
      config: {
        filters,
        kernel_size: [kernel, kernel],
        strides: [options.stride ?? 1, options.stride ?? 1],
        padding: options.padding ?? 'same',
        data_format: 'channels_last',
        dilation_rate: [1, 1],
        activation: options.activation ?? 'linear',
        use_bias: bias,
      },
      weights: [
        { name: `${name}/kernel`, shape: [kernel, kernel, inChannels, filters], values: this.values(kernel * kernel * inChannels * filters, -limit, limit) },
        ...(bias ? [{ name: `${name}/bias`, shape: [filters], values: this.values(filters, -0.2, 0.2) }] : []),
      ],
    };
  }

  depthwise(name: string, channels: number, kernel: number, options: { stride?: number; padding?: 'same' | 'valid'; multiplier?: number } = {}): TestLayer {
    const multiplier = options.multiplier ?? 1;
    const limit = Math.sqrt((3 * this.gain) / (kernel * kernel));
    return {
      className: 'DepthwiseConv2D',
      name,
      config: {
        kernel_size: [kernel, kernel],
        strides: [options.stride ?? 1, options.stride ?? 1],
        padding: options.padding ?? 'same',
        depth_multiplier: multiplier,
        data_format: 'channels_last',
        dilation_rate: [1, 1],
        activation: 'linear',
        use_bias: false,
      },
      weights: [
        { name: `${name}/depthwise_kernel`, shape: [kernel, kernel, channels, multiplier], values: this.values(kernel * kernel * channels * multiplier, -limit, limit) },
      ],
    };
  }

  batchNorm(name: string, channels: number, epsilon = 1e-3): TestLayer {
    return {
      className: 'BatchNormalization',
      name,
      config: { axis: -1, momentum: 0.99, epsilon, center: true, scale: true },
      weights: [
        { name: `${name}/gamma`, shape: [channels], values: this.values(channels, 0.5, 1.5) },
        { name: `${name}/beta`, shape: [channels], values: this.values(channels, -0.2, 0.2) },
        { name: `${name}/moving_mean`, shape: [channels], values: this.values(channels, -0.2, 0.2) },
        { name: `${name}/moving_variance`, shape: [channels], values: this.values(channels, 0.5, 1.5) },
      ],
    };
  }

  activation(name: string, activation: string): TestLayer {
    return { className: 'Activation', name, config: { activation } };
  }

  dense(name: string, inChannels: number, units: number, activation = 'linear'): TestLayer {
    const limit = Math.sqrt((3 * this.gain) / inChannels);
    return {
      className: 'Dense',
      name,
      config: { units, activation, use_bias: true },
      weights: [
        { name: `${name}/kernel`, shape: [inChannels, units], values: this.values(inChannels * units, -limit, limit) },
        { name: `${name}/bias`, shape: [units], values: this.values(units, -0.2, 0.2) },
      ],
    };
  }

  /** The layers of one Keras EfficientNet block, with optional expand, stride-2 padding, squeeze-excite and residual. */
  block(prefix: string, input: string, inChannels: number, outChannels: number, options: { expand?: number; stride?: number; kernel?: number; se?: boolean }): TestLayer[] {
    const expandRatio = options.expand ?? 1;
    const stride = options.stride ?? 1;
    const kernel = options.kernel ?? 3;
    const mid = inChannels * expandRatio;
    const layers: TestLayer[] = [];
    if (expandRatio !== 1) {
      layers.push({ ...this.conv(`${prefix}expand_conv`, inChannels, mid, 1), inputs: [input] });
      layers.push(this.batchNorm(`${prefix}expand_bn`, mid), this.activation(`${prefix}expand_activation`, 'swish'));
    }
    if (stride === 2) {
      layers.push({ className: 'ZeroPadding2D', name: `${prefix}dwconv_pad`, config: { padding: [[0, 1], [0, 1]], data_format: 'channels_last' } });
    }
    layers.push(this.depthwise(`${prefix}dwconv`, mid, kernel, { stride, padding: stride === 2 ? 'valid' : 'same' }));
    layers.push(this.batchNorm(`${prefix}bn`, mid), this.activation(`${prefix}activation`, 'swish'));
    if (expandRatio === 1) layers[0].inputs = [input];
    if (options.se ?? true) {
      const squeezed = Math.max(1, Math.floor(inChannels / 4));
      layers.push(
        { className: 'GlobalAveragePooling2D', name: `${prefix}se_squeeze`, config: { data_format: 'channels_last' } },
        { className: 'Reshape', name: `${prefix}se_reshape`, config: { target_shape: [1, 1, mid] } },
        this.conv(`${prefix}se_reduce`, mid, squeezed, 1, { bias: true, activation: 'swish' }),
        this.conv(`${prefix}se_expand`, squeezed, mid, 1, { bias: true, activation: 'sigmoid' }),
        { className: 'Multiply', name: `${prefix}se_excite`, config: {}, inputs: [`${prefix}activation`, `${prefix}se_expand`] },
      );
    }
    layers.push(this.conv(`${prefix}project_conv`, mid, outChannels, 1), this.batchNorm(`${prefix}project_bn`, outChannels));
    if (stride === 1 && inChannels === outChannels) {
      layers.push(
        { className: 'Dropout', name: `${prefix}drop`, config: { rate: 0.2, noise_shape: [null, 1, 1, 1] } },
        { className: 'Add', name: `${prefix}add`, config: {}, inputs: [`${prefix}drop`, input] },
      );
    }
    return layers;
  }
}

/** A small EfficientNet-shaped network: stem with explicit padding, three blocks (stride 2, expand, residual), head, pool. */
export function tinyEfficientNet(seed: number, options: { input?: Array<number | null>; rescaling?: boolean } = {}): TestLayer[] {
  const f = new LayerFactory(seed, 3);
  const layers: TestLayer[] = [f.input('input_1', options.input ?? [null, 9, 9, 3])];
  if (options.rescaling ?? true) layers.push({ className: 'Rescaling', name: 'rescaling', config: { scale: 1 / 255, offset: 0 } });
  layers.push(
    { className: 'ZeroPadding2D', name: 'stem_conv_pad', config: { padding: [[0, 1], [0, 1]] } },
    f.conv('stem_conv', 3, 8, 3, { stride: 2, padding: 'valid' }),
    f.batchNorm('stem_bn', 8),
    f.activation('stem_activation', 'swish'),
  );
  layers.push(...f.block('block1a_', 'stem_activation', 8, 8, { se: true }));
  layers.push(...f.block('block2a_', 'block1a_add', 8, 12, { expand: 3, stride: 2, kernel: 3 }));
  layers.push(...f.block('block2b_', 'block2a_project_bn', 12, 12, { expand: 2, kernel: 5 }));
  layers.push(
    f.conv('top_conv', 12, 16, 1),
    f.batchNorm('top_bn', 16),
    f.activation('top_activation', 'swish'),
    { className: 'GlobalAveragePooling2D', name: 'avg_pool', config: {} },
  );
  return layers;
}

/** A Dense head for a pooled network: Dropout, a hidden Dense with relu, and a softmax classifier. */
export function denseHead(seed: number, channels: number, classes: number): TestLayer[] {
  const f = new LayerFactory(seed, 3);
  return [
    { className: 'Dropout', name: 'top_dropout', config: { rate: 0.2 } },
    f.dense('dense_hidden', channels, 6, 'relu'),
    f.dense('predictions', 6, classes, 'softmax'),
  ];
}
