// Writes an ONNX model (a protobuf ModelProto) for an EfficientNet-style Graph
// whose BatchNorm is already folded into the layers (see foldGraph in
// bench/models.mjs), so every layer is a convolution with a bias.
//
// Only what the MBConv graphs need is written: Conv (with explicit pads, and
// group = channels for depthwise), Relu, Clip, Sigmoid, Mul, Add,
// GlobalAveragePool, GlobalMaxPool, Flatten, Gemm and Softmax, opset 13,
// with every weight as a float32 initializer in raw_data. The input is
// [N, 3, H, W] (NCHW) with a symbolic batch dimension N; the output is
// [N, classes] probabilities or logits, as graph.classifier.output selects.
//
// Field numbers are those of onnx/onnx.proto (IR version 7):
//   ModelProto: ir_version 1, producer_name 2, producer_version 3, graph 7, opset_import 8
//   OperatorSetIdProto: domain 1, version 2
//   GraphProto: node 1, name 2, initializer 5, input 11, output 12
//   NodeProto: input 1, output 2, name 3, op_type 4, attribute 5
//   AttributeProto: name 1, i 3, ints 8 (not packed), type 20 (INT = 2, INTS = 7)
//   TensorProto: dims 1, data_type 2 (FLOAT = 1), name 8, raw_data 9
//   ValueInfoProto: name 1, type 2; TypeProto: tensor_type 1
//   TypeProto.Tensor: elem_type 1, shape 2; TensorShapeProto: dim 1
//   TensorShapeProto.Dimension: dim_value 1, dim_param 2

const IR_VERSION = 7;
const OPSET_VERSION = 13;
const FLOAT = 1;
const ATTRIBUTE_INT = 2;
const ATTRIBUTE_INTS = 7;

// Protobuf wire types.
const VARINT = 0;
const LENGTH_DELIMITED = 2;

const utf8 = new TextEncoder();

/** Appends protobuf fields to a list of byte chunks; finish() joins them. */
class ProtoWriter {
  chunks = [];
  length = 0;

  push(bytes) {
    this.chunks.push(bytes);
    this.length += bytes.length;
  }

  /** Writes an int64 as a varint: a negative value as its 64-bit two's complement, in 10 bytes. */
  varint(value) {
    if (!Number.isSafeInteger(value)) {
      throw new Error(`ONNX writer: a varint must be a safe integer, but got ${value}.`);
    }
    const bytes = [];
    let rest = BigInt.asUintN(64, BigInt(value));
    while (rest >= 0x80n) {
      bytes.push(Number(rest & 0x7fn) | 0x80);
      rest >>= 7n;
    }
    bytes.push(Number(rest));
    this.push(Uint8Array.from(bytes));
  }

  tag(field, wireType) {
    this.varint(field * 8 + wireType);
  }

  int(field, value) {
    this.tag(field, VARINT);
    this.varint(value);
  }

  bytes(field, bytes) {
    this.tag(field, LENGTH_DELIMITED);
    this.varint(bytes.length);
    this.push(bytes);
  }

  string(field, text) {
    this.bytes(field, utf8.encode(text));
  }

  /** Writes a nested message built by fill(writer). */
  message(field, fill) {
    const nested = new ProtoWriter();
    fill(nested);
    this.bytes(field, nested.finish());
  }

  finish() {
    const out = new Uint8Array(this.length);
    let offset = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  }
}

/** Encodes an AttributeProto of type INT or INTS. */
function writeAttribute(writer, name, value) {
  writer.message(5, (attribute) => {
    attribute.string(1, name);
    if (Array.isArray(value)) {
      attribute.int(20, ATTRIBUTE_INTS);
      for (const item of value) attribute.int(8, item);
    } else {
      attribute.int(20, ATTRIBUTE_INT);
      attribute.int(3, value);
    }
  });
}

/** Encodes a ValueInfoProto of a float tensor; a string dimension is symbolic. */
function writeValueInfo(writer, field, name, dims) {
  writer.message(field, (info) => {
    info.string(1, name);
    info.message(2, (type) => {
      type.message(1, (tensor) => {
        tensor.int(1, FLOAT);
        tensor.message(2, (shape) => {
          for (const dim of dims) {
            shape.message(1, (dimension) => {
              if (typeof dim === 'string') dimension.string(2, dim);
              else dimension.int(1, dim);
            });
          }
        });
      });
    });
  });
}

/** Collects nodes and float32 initializers, naming intermediate values in order. */
class OnnxGraphBuilder {
  nodes = [];
  initializers = [];
  counter = 0;

  value(prefix) {
    this.counter += 1;
    return `${prefix}_${this.counter}`;
  }

  initializer(name, dims, data) {
    const count = dims.reduce((a, b) => a * b, 1);
    if (data.length !== count) {
      throw new Error(`ONNX writer: initializer ${name} has ${data.length} values, but dims ${dims.join('x')} need ${count}.`);
    }
    this.initializers.push({ name, dims, data: Float32Array.from(data) });
    return name;
  }

  node(opType, inputs, attributes = {}, name = this.value(opType.toLowerCase())) {
    const output = name;
    this.nodes.push({ opType, inputs, output, attributes });
    return output;
  }

  /** Applies an activation by its Graph name and returns the output value. */
  activation(x, activation, name) {
    switch (activation) {
      case 'linear':
        return x;
      case 'relu':
        return this.node('Relu', [x], {}, `${name}_relu`);
      case 'relu6': {
        // Opset 13 Clip takes min and max as inputs, not attributes.
        const low = this.initializer(`${name}_clip_min`, [], [0]);
        const high = this.initializer(`${name}_clip_max`, [], [6]);
        return this.node('Clip', [x, low, high], {}, `${name}_relu6`);
      }
      case 'sigmoid':
        return this.node('Sigmoid', [x], {}, `${name}_sigmoid`);
      case 'swish': {
        const gate = this.node('Sigmoid', [x], {}, `${name}_swish_sigmoid`);
        return this.node('Mul', [x, gate], {}, `${name}_swish`);
      }
      default:
        throw new Error(`ONNX writer: activation ${activation} in ${name} is not supported. Supported: linear, relu, relu6, sigmoid, swish.`);
    }
  }
}

/**
 * Returns explicit [top, left, bottom, right] pads for a Graph padding:
 * 'same' follows TensorFlow (output = ceil(input / stride), the odd extra
 * row or column at the bottom or right), 'valid' pads nothing.
 */
function explicitPads(padding, kernel, stride, height, width) {
  if (padding === 'valid') return [0, 0, 0, 0];
  if (padding !== 'same') return [padding.top, padding.left, padding.bottom, padding.right];
  const total = (size) => Math.max((Math.ceil(size / stride) - 1) * stride + kernel - size, 0);
  const padHeight = total(height);
  const padWidth = total(width);
  return [Math.floor(padHeight / 2), Math.floor(padWidth / 2), padHeight - Math.floor(padHeight / 2), padWidth - Math.floor(padWidth / 2)];
}

/** Output size of a convolution along one axis, with explicit pads. */
function convolvedSize(size, kernel, stride, padBefore, padAfter) {
  return Math.floor((size + padBefore + padAfter - kernel) / stride) + 1;
}

/** Reorders [kernel, kernel, in, out] (HWIO) to ONNX's [out, in, kernel, kernel]. */
function hwioToOihw(weight, kernel, inChannels, outChannels) {
  const out = new Float32Array(weight.length);
  for (let y = 0; y < kernel; y++) {
    for (let x = 0; x < kernel; x++) {
      for (let i = 0; i < inChannels; i++) {
        for (let o = 0; o < outChannels; o++) {
          out[((o * inChannels + i) * kernel + y) * kernel + x] = weight[((y * kernel + x) * inChannels + i) * outChannels + o];
        }
      }
    }
  }
  return out;
}

function requireFolded(layer, name) {
  if (layer.batchNorm) {
    throw new Error(`ONNX writer: ${name} still has BatchNorm. Fold the graph first (foldGraph in bench/models.mjs).`);
  }
  if (layer.weightScales || layer.outputGrid) {
    throw new Error(`ONNX writer: ${name} is quantized, but only float graphs are supported.`);
  }
}

/** Adds a Conv node with bias and returns its output value. */
function addConv(builder, x, { name, weight, bias, outChannels, group, pads, stride, kernel, inPerGroup }) {
  const w = builder.initializer(`${name}_weight`, [outChannels, inPerGroup, kernel, kernel], weight);
  const inputs = [x, w];
  if (bias) inputs.push(builder.initializer(`${name}_bias`, [outChannels], bias));
  return builder.node('Conv', inputs, { group, kernel_shape: [kernel, kernel], pads, strides: [stride, stride] }, `${name}_conv`);
}

/** Adds a 1x1 convolution for a PointwiseLayer ([in, out] weight). */
function addPointwise(builder, x, layer, name) {
  requireFolded(layer, name);
  const weight = hwioToOihw(layer.weight, 1, layer.inChannels, layer.outChannels);
  const y = addConv(builder, x, {
    name,
    weight,
    bias: layer.bias,
    outChannels: layer.outChannels,
    group: 1,
    pads: [0, 0, 0, 0],
    stride: 1,
    kernel: 1,
    inPerGroup: layer.inChannels,
  });
  return builder.activation(y, layer.activation, name);
}

/**
 * Encodes a folded float Graph with a fixed input size as ONNX model bytes.
 * Throws for BatchNorm left in the graph, quantized layers, depth
 * multipliers other than 1, hidden dense layers and unsupported activations.
 */
export function graphToOnnx(graph, { name = 'efficientnet', producerVersion = '0' } = {}) {
  if (graph.inputHeight === null || graph.inputWidth === null) {
    throw new Error('ONNX writer: the graph must have a fixed input size, but inputHeight or inputWidth is null.');
  }
  if (graph.hidden && graph.hidden.length > 0) {
    throw new Error(`ONNX writer: hidden dense layers are not supported, but the graph has ${graph.hidden.length}.`);
  }
  const builder = new OnnxGraphBuilder();
  let height = graph.inputHeight;
  let width = graph.inputWidth;

  const stem = graph.stem;
  requireFolded(stem, 'stem');
  const stemPads = explicitPads(stem.padding, stem.kernel, stem.stride, height, width);
  let x = addConv(builder, 'input', {
    name: 'stem',
    weight: hwioToOihw(stem.weight, stem.kernel, stem.inChannels, stem.outChannels),
    bias: stem.bias,
    outChannels: stem.outChannels,
    group: 1,
    pads: stemPads,
    stride: stem.stride,
    kernel: stem.kernel,
    inPerGroup: stem.inChannels,
  });
  x = builder.activation(x, stem.activation, 'stem');
  height = convolvedSize(height, stem.kernel, stem.stride, stemPads[0], stemPads[2]);
  width = convolvedSize(width, stem.kernel, stem.stride, stemPads[1], stemPads[3]);

  graph.blocks.forEach((block, index) => {
    const prefix = `block${index}`;
    const input = x;
    if (block.expand) x = addPointwise(builder, x, block.expand, `${prefix}_expand`);

    const depthwise = block.depthwise;
    requireFolded(depthwise, `${prefix}_dwconv`);
    if ((depthwise.depthMultiplier ?? 1) !== 1) {
      throw new Error(`ONNX writer: ${prefix}_dwconv has depth multiplier ${depthwise.depthMultiplier}, but only 1 is supported.`);
    }
    const pads = explicitPads(depthwise.padding, depthwise.kernel, depthwise.stride, height, width);
    // A depthwise [k, k, C] weight is HWIO with one input channel per group.
    x = addConv(builder, x, {
      name: `${prefix}_dwconv`,
      weight: hwioToOihw(depthwise.weight, depthwise.kernel, 1, depthwise.channels),
      bias: depthwise.bias,
      outChannels: depthwise.channels,
      group: depthwise.channels,
      pads,
      stride: depthwise.stride,
      kernel: depthwise.kernel,
      inPerGroup: 1,
    });
    x = builder.activation(x, depthwise.activation, `${prefix}_dwconv`);
    height = convolvedSize(height, depthwise.kernel, depthwise.stride, pads[0], pads[2]);
    width = convolvedSize(width, depthwise.kernel, depthwise.stride, pads[1], pads[3]);

    if (block.se) {
      let gate = builder.node('GlobalAveragePool', [x], {}, `${prefix}_se_squeeze`);
      gate = addPointwise(builder, gate, block.se.reduce, `${prefix}_se_reduce`);
      gate = addPointwise(builder, gate, block.se.expand, `${prefix}_se_expand`);
      x = builder.node('Mul', [x, gate], {}, `${prefix}_se_excite`);
    }
    x = addPointwise(builder, x, block.project, `${prefix}_project`);
    if (block.residual) x = builder.node('Add', [x, input], {}, `${prefix}_add`);
  });

  if (graph.head) x = addPointwise(builder, x, graph.head, 'top');
  if (graph.pool) {
    x = builder.node(graph.pool.type === 'avg' ? 'GlobalAveragePool' : 'GlobalMaxPool', [x], {}, `${graph.pool.type}_pool`);
    x = builder.node('Flatten', [x], { axis: 1 }, 'flatten');
  }
  const featureChannels = graph.head ? graph.head.outChannels : graph.blocks.at(-1)?.outChannels ?? stem.outChannels;
  let outputDims = graph.pool ? ['N', featureChannels] : ['N', featureChannels, height, width];
  if (graph.classifier) {
    const classifier = graph.classifier;
    requireFolded(classifier, 'predictions');
    // Gemm computes x * B + C with B as [K, N] when transB is 0, which is the Graph's [in, out] layout.
    const inputs = [x, builder.initializer('predictions_weight', [classifier.inChannels, classifier.outChannels], classifier.weight)];
    if (classifier.bias) inputs.push(builder.initializer('predictions_bias', [classifier.outChannels], classifier.bias));
    x = builder.node('Gemm', inputs, {}, 'predictions_gemm');
    x = builder.activation(x, classifier.activation, 'predictions');
    if (classifier.output === 'softmax') x = builder.node('Softmax', [x], { axis: -1 }, 'probabilities');
    outputDims = ['N', classifier.outChannels];
  }
  // Every value is the output of a node, and nothing reads the last one, so it can take the graph output's name.
  const last = builder.nodes.at(-1);
  if (last.output !== x) throw new Error(`ONNX writer: the graph output ${x} is not the last node's output ${last.output}.`);
  last.output = 'output';

  const model = new ProtoWriter();
  model.int(1, IR_VERSION);
  model.string(2, 'efficientnet-wasm bench');
  model.string(3, producerVersion);
  model.message(7, (graphWriter) => {
    for (const node of builder.nodes) {
      graphWriter.message(1, (nodeWriter) => {
        for (const input of node.inputs) nodeWriter.string(1, input);
        nodeWriter.string(2, node.output);
        nodeWriter.string(3, node.output);
        nodeWriter.string(4, node.opType);
        for (const [key, value] of Object.entries(node.attributes)) writeAttribute(nodeWriter, key, value);
      });
    }
    graphWriter.string(2, name);
    for (const { name: tensorName, dims, data } of builder.initializers) {
      graphWriter.message(5, (tensor) => {
        for (const dim of dims) tensor.int(1, dim);
        tensor.int(2, FLOAT);
        tensor.string(8, tensorName);
        // raw_data is little-endian, which is the byte order of typed arrays on every platform Node runs on.
        tensor.bytes(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      });
    }
    writeValueInfo(graphWriter, 11, 'input', ['N', graph.inputChannels, graph.inputHeight, graph.inputWidth]);
    writeValueInfo(graphWriter, 12, 'output', outputDims);
  });
  model.message(8, (opset) => {
    opset.string(1, '');
    opset.int(2, OPSET_VERSION);
  });
  return model.finish();
}
