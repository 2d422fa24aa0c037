/**
 * The graph configuration of a model file: every field of a Graph except its
 * weight arrays, stored as JSON, and the tensor names and shapes it implies.
 *
 * Each weighted layer under a prefix such as "blocks/3/depthwise" owns these tensors:
 *   <prefix>/weight                    the layer weight, in the layout of src/graph/spec.ts
 *   <prefix>/bias                      [outChannels], when "bias" is true
 *   <prefix>/batch_norm/{gamma,beta,mean,variance}   [outChannels], when "batchNorm" is set
 *   <prefix>/weight_scales             [weightScales], when "weightScales" is set
 * The prefixes are stem, blocks/<i>/{expand,depthwise,se/reduce,se/expand,project},
 * head, hidden/<i> and classifier.
 */
import {
  ACTIVATION_CODES,
  type Activation,
  type BatchNorm,
  type Classifier,
  type ConvLayer,
  type DepthwiseLayer,
  type Graph,
  type MBConvBlock,
  type Padding,
  type PointwiseLayer,
  type QuantGrid,
} from '../../graph/spec.js';
import { describeJson, isPlainObject } from './container.js';

/** The fields every weighted layer shares, with a flag or a count in place of each optional tensor. */
interface LayerConfig {
  activation: Activation;
  bias: boolean;
  batchNorm?: { epsilon: number };
  outputGrid?: QuantGrid;
  /** Number of weight scales: 1, or one per output channel. */
  weightScales?: number;
}

export interface ConvConfig extends LayerConfig {
  kernel: number;
  stride: number;
  padding: Padding;
  inChannels: number;
  outChannels: number;
}

export interface DepthwiseConfig extends LayerConfig {
  kernel: number;
  stride: number;
  padding: Padding;
  channels: number;
  depthMultiplier?: number;
}

export interface PointwiseConfig extends LayerConfig {
  inChannels: number;
  outChannels: number;
}

export interface ClassifierConfig extends PointwiseConfig {
  output: 'softmax' | 'logits';
  logitsGrid?: QuantGrid;
}

export interface BlockConfig {
  inChannels: number;
  outChannels: number;
  expand: PointwiseConfig | null;
  depthwise: DepthwiseConfig;
  se: { reduce: PointwiseConfig; expand: PointwiseConfig } | null;
  project: PointwiseConfig;
  residual: boolean;
  residualGrid?: QuantGrid;
}

export interface GraphConfig {
  inputHeight: number | null;
  inputWidth: number | null;
  inputChannels: number;
  inputGrid?: QuantGrid;
  stem: ConvConfig;
  blocks: BlockConfig[];
  head: PointwiseConfig | null;
  pool: { type: 'avg' | 'max'; outputGrid?: QuantGrid } | null;
  hidden?: PointwiseConfig[];
  classifier: ClassifierConfig | null;
}

/** Supplies the tensor of a given name and shape, or throws when the file lacks it. */
export type TensorSupplier = (name: string, shape: number[]) => Float32Array;

/** A tensor the configuration calls for. */
export interface TensorSpec {
  name: string;
  shape: number[];
}

// Fields of each configuration object. A Graph object has the same fields plus
// its tensors. The encoder rejects any other field, so that a field added to
// the Graph spec fails the conversion instead of being dropped.
const LAYER_KEYS = ['activation', 'bias', 'batchNorm', 'outputGrid', 'weightScales'];
const CONV_KEYS = [...LAYER_KEYS, 'kernel', 'stride', 'padding', 'inChannels', 'outChannels'];
const DEPTHWISE_KEYS = [...LAYER_KEYS, 'kernel', 'stride', 'padding', 'channels', 'depthMultiplier'];
const POINTWISE_KEYS = [...LAYER_KEYS, 'inChannels', 'outChannels'];
const CLASSIFIER_KEYS = [...POINTWISE_KEYS, 'output', 'logitsGrid'];
const BLOCK_KEYS = ['inChannels', 'outChannels', 'expand', 'depthwise', 'se', 'project', 'residual', 'residualGrid'];
const GRAPH_KEYS = ['inputHeight', 'inputWidth', 'inputChannels', 'inputGrid', 'stem', 'blocks', 'head', 'pool', 'hidden', 'classifier'];
const GRID_KEYS = ['scale', 'zeroPoint', 'qmin', 'qmax'];
const BATCH_NORM_TENSORS = ['gamma', 'beta', 'mean', 'variance'] as const;
const PADDING_KEYS = ['top', 'bottom', 'left', 'right'];

// ---------------------------------------------------------------------------
// Graph -> configuration and named tensors

/**
 * Splits a graph into its configuration and its tensors by name. Throws on a
 * field the configuration does not store, naming it.
 */
export function encodeGraph(graph: Graph): { config: GraphConfig; tensors: Map<string, Float32Array> } {
  const tensors = new Map<string, Float32Array>();
  checkKeys(graph, GRAPH_KEYS, 'graph');

  const layer = (value: ConvLayer | DepthwiseLayer | PointwiseLayer, prefix: string): LayerConfig => {
    tensors.set(`${prefix}/weight`, value.weight);
    if (value.bias) tensors.set(`${prefix}/bias`, value.bias);
    const config: LayerConfig = { activation: value.activation, bias: value.bias !== null };
    if (value.batchNorm) {
      checkKeys(value.batchNorm, [...BATCH_NORM_TENSORS, 'epsilon'], `${prefix}/batch_norm`);
      for (const field of BATCH_NORM_TENSORS) {
        tensors.set(`${prefix}/batch_norm/${field}`, value.batchNorm[field]);
      }
      config.batchNorm = { epsilon: value.batchNorm.epsilon };
    }
    if (value.outputGrid) config.outputGrid = copyGrid(value.outputGrid, `${prefix} outputGrid`);
    if (value.weightScales) {
      tensors.set(`${prefix}/weight_scales`, value.weightScales);
      config.weightScales = value.weightScales.length;
    }
    return config;
  };
  const pointwise = (value: PointwiseLayer, prefix: string): PointwiseConfig => {
    checkKeys(value, [...POINTWISE_KEYS, 'weight'], prefix);
    return { ...layer(value, prefix), inChannels: value.inChannels, outChannels: value.outChannels };
  };

  const { stem } = graph;
  checkKeys(stem, [...CONV_KEYS, 'weight'], 'stem');
  const config: GraphConfig = {
    inputHeight: graph.inputHeight,
    inputWidth: graph.inputWidth,
    inputChannels: graph.inputChannels,
    ...(graph.inputGrid ? { inputGrid: copyGrid(graph.inputGrid, 'inputGrid') } : {}),
    stem: {
      ...layer(stem, 'stem'),
      kernel: stem.kernel,
      stride: stem.stride,
      padding: copyPadding(stem.padding, 'stem'),
      inChannels: stem.inChannels,
      outChannels: stem.outChannels,
    },
    blocks: graph.blocks.map((block, index) => encodeBlock(block, `blocks/${index}`, layer, pointwise)),
    head: graph.head ? pointwise(graph.head, 'head') : null,
    pool: graph.pool
      ? { type: graph.pool.type, ...(graph.pool.outputGrid ? { outputGrid: copyGrid(graph.pool.outputGrid, 'pool outputGrid') } : {}) }
      : null,
    ...(graph.hidden ? { hidden: graph.hidden.map((dense, index) => pointwise(dense, `hidden/${index}`)) } : {}),
    classifier: graph.classifier ? encodeClassifier(graph.classifier, pointwise) : null,
  };
  if (graph.pool) checkKeys(graph.pool, ['type', 'outputGrid'], 'pool');
  return { config, tensors };
}

function encodeBlock(
  block: MBConvBlock,
  prefix: string,
  layer: (value: DepthwiseLayer, prefix: string) => LayerConfig,
  pointwise: (value: PointwiseLayer, prefix: string) => PointwiseConfig,
): BlockConfig {
  checkKeys(block, BLOCK_KEYS, prefix);
  const { depthwise } = block;
  checkKeys(depthwise, [...DEPTHWISE_KEYS, 'weight'], `${prefix}/depthwise`);
  if (block.se) checkKeys(block.se, ['reduce', 'expand'], `${prefix}/se`);
  return {
    inChannels: block.inChannels,
    outChannels: block.outChannels,
    expand: block.expand ? pointwise(block.expand, `${prefix}/expand`) : null,
    depthwise: {
      ...layer(depthwise, `${prefix}/depthwise`),
      kernel: depthwise.kernel,
      stride: depthwise.stride,
      padding: copyPadding(depthwise.padding, `${prefix}/depthwise`),
      channels: depthwise.channels,
      ...(depthwise.depthMultiplier !== undefined ? { depthMultiplier: depthwise.depthMultiplier } : {}),
    },
    se: block.se
      ? { reduce: pointwise(block.se.reduce, `${prefix}/se/reduce`), expand: pointwise(block.se.expand, `${prefix}/se/expand`) }
      : null,
    project: pointwise(block.project, `${prefix}/project`),
    residual: block.residual,
    ...(block.residualGrid ? { residualGrid: copyGrid(block.residualGrid, `${prefix} residualGrid`) } : {}),
  };
}

function encodeClassifier(classifier: Classifier, pointwise: (value: PointwiseLayer, prefix: string) => PointwiseConfig): ClassifierConfig {
  checkKeys(classifier, [...CLASSIFIER_KEYS, 'weight'], 'classifier');
  const { output, logitsGrid, ...layer } = classifier;
  return {
    ...pointwise(layer, 'classifier'),
    output,
    ...(logitsGrid ? { logitsGrid: copyGrid(logitsGrid, 'classifier logitsGrid') } : {}),
  };
}

function copyGrid(grid: QuantGrid, where: string): QuantGrid {
  checkKeys(grid, GRID_KEYS, where);
  return { scale: grid.scale, zeroPoint: grid.zeroPoint, qmin: grid.qmin, qmax: grid.qmax };
}

function copyPadding(padding: Padding, where: string): Padding {
  if (typeof padding === 'string') return padding;
  checkKeys(padding, PADDING_KEYS, `${where} padding`);
  return { top: padding.top, bottom: padding.bottom, left: padding.left, right: padding.right };
}

function checkKeys(value: object, allowed: readonly string[], where: string): void {
  for (const [key, field] of Object.entries(value)) {
    if (field !== undefined && !allowed.includes(key)) {
      throw new Error(
        `Cannot serialize the model: ${where} has a field "${key}" that the efficientnet-wasm model file ` +
          'does not store. Add it to src/formats/safetensors/graph-config.ts and raise the format version.',
      );
    }
  }
}

// ---------------------------------------------------------------------------
// Configuration and named tensors -> Graph

/**
 * Builds a graph from a checked configuration, taking each tensor from supply
 * in a fixed order (the order the writer stores them in).
 */
export function decodeGraph(config: GraphConfig, supply: TensorSupplier): Graph {
  const layer = (value: LayerConfig, prefix: string, weightShape: number[], channels: number) => ({
    activation: value.activation,
    weight: supply(`${prefix}/weight`, weightShape),
    bias: value.bias ? supply(`${prefix}/bias`, [channels]) : null,
    ...(value.batchNorm ? { batchNorm: batchNorm(prefix, channels, value.batchNorm.epsilon, supply) } : {}),
    ...(value.outputGrid ? { outputGrid: { ...value.outputGrid } } : {}),
    ...(value.weightScales !== undefined ? { weightScales: supply(`${prefix}/weight_scales`, [value.weightScales]) } : {}),
  });
  const pointwise = (value: PointwiseConfig, prefix: string): PointwiseLayer => ({
    inChannels: value.inChannels,
    outChannels: value.outChannels,
    ...layer(value, prefix, [value.inChannels, value.outChannels], value.outChannels),
  });

  const { stem } = config;
  const graph: Graph = {
    inputHeight: config.inputHeight,
    inputWidth: config.inputWidth,
    inputChannels: config.inputChannels,
    ...(config.inputGrid ? { inputGrid: { ...config.inputGrid } } : {}),
    stem: {
      kernel: stem.kernel,
      stride: stem.stride,
      padding: copyPaddingConfig(stem.padding),
      inChannels: stem.inChannels,
      outChannels: stem.outChannels,
      ...layer(stem, 'stem', [stem.kernel, stem.kernel, stem.inChannels, stem.outChannels], stem.outChannels),
    },
    blocks: config.blocks.map((block, index): MBConvBlock => {
      const prefix = `blocks/${index}`;
      const expand = block.expand ? pointwise(block.expand, `${prefix}/expand`) : null;
      const dw = block.depthwise;
      const outChannels = dw.channels * (dw.depthMultiplier ?? 1);
      const depthwise: DepthwiseLayer = {
        kernel: dw.kernel,
        stride: dw.stride,
        padding: copyPaddingConfig(dw.padding),
        channels: dw.channels,
        ...(dw.depthMultiplier !== undefined ? { depthMultiplier: dw.depthMultiplier } : {}),
        ...layer(dw, `${prefix}/depthwise`, [dw.kernel, dw.kernel, outChannels], outChannels),
      };
      const se = block.se
        ? { reduce: pointwise(block.se.reduce, `${prefix}/se/reduce`), expand: pointwise(block.se.expand, `${prefix}/se/expand`) }
        : null;
      return {
        inChannels: block.inChannels,
        outChannels: block.outChannels,
        expand,
        depthwise,
        se,
        project: pointwise(block.project, `${prefix}/project`),
        residual: block.residual,
        ...(block.residualGrid ? { residualGrid: { ...block.residualGrid } } : {}),
      };
    }),
    head: config.head ? pointwise(config.head, 'head') : null,
    pool: config.pool ? { type: config.pool.type, ...(config.pool.outputGrid ? { outputGrid: { ...config.pool.outputGrid } } : {}) } : null,
    ...(config.hidden ? { hidden: config.hidden.map((dense, index) => pointwise(dense, `hidden/${index}`)) } : {}),
    classifier: config.classifier
      ? {
          ...pointwise(config.classifier, 'classifier'),
          output: config.classifier.output,
          ...(config.classifier.logitsGrid ? { logitsGrid: { ...config.classifier.logitsGrid } } : {}),
        }
      : null,
  };
  return graph;
}

/** Lists the tensors a configuration calls for, in the order the writer stores them. */
export function expectedTensors(config: GraphConfig): TensorSpec[] {
  const specs: TensorSpec[] = [];
  const empty = new Float32Array(0);
  decodeGraph(config, (name, shape) => {
    specs.push({ name, shape });
    return empty;
  });
  return specs;
}

function batchNorm(prefix: string, channels: number, epsilon: number, supply: TensorSupplier): BatchNorm {
  return {
    gamma: supply(`${prefix}/batch_norm/gamma`, [channels]),
    beta: supply(`${prefix}/batch_norm/beta`, [channels]),
    mean: supply(`${prefix}/batch_norm/mean`, [channels]),
    variance: supply(`${prefix}/batch_norm/variance`, [channels]),
    epsilon,
  };
}

function copyPaddingConfig(padding: Padding): Padding {
  return typeof padding === 'string' ? padding : { ...padding };
}

// ---------------------------------------------------------------------------
// Checking a configuration read from a file

/**
 * Checks that a parsed JSON value is a graph configuration of format version 1:
 * every field present with the right type and range, and no unknown field.
 * fail receives "field <path> must be <expected>, but got <actual>".
 */
export function checkGraphConfig(json: unknown, fail: (problem: string) => never): GraphConfig {
  const check = new ConfigChecker(fail);
  const graph = check.object(json, 'graph', GRAPH_KEYS);
  check.nullableSize(graph, 'inputHeight', 'graph');
  check.nullableSize(graph, 'inputWidth', 'graph');
  check.size(graph, 'inputChannels', 'graph');
  check.optionalGrid(graph, 'inputGrid', 'graph');

  check.layer(graph.stem, 'stem', CONV_KEYS, ['kernel', 'stride', 'inChannels', 'outChannels']);
  check.padding((graph.stem as Record<string, unknown>).padding, 'stem.padding');

  const blocks = check.array(graph.blocks, 'blocks');
  blocks.forEach((value, index) => {
    const path = `blocks[${index}]`;
    const block = check.object(value, path, BLOCK_KEYS);
    check.size(block, 'inChannels', path);
    check.size(block, 'outChannels', path);
    if (block.expand !== null) check.layer(block.expand, `${path}.expand`, POINTWISE_KEYS, ['inChannels', 'outChannels']);
    const depthwise = check.layer(block.depthwise, `${path}.depthwise`, DEPTHWISE_KEYS, ['kernel', 'stride', 'channels']);
    check.padding(depthwise.padding, `${path}.depthwise.padding`);
    if (block.se !== null) {
      const se = check.object(block.se, `${path}.se`, ['reduce', 'expand']);
      check.layer(se.reduce, `${path}.se.reduce`, POINTWISE_KEYS, ['inChannels', 'outChannels']);
      check.layer(se.expand, `${path}.se.expand`, POINTWISE_KEYS, ['inChannels', 'outChannels']);
    }
    check.layer(block.project, `${path}.project`, POINTWISE_KEYS, ['inChannels', 'outChannels']);
    check.boolean(block, 'residual', path);
    check.optionalGrid(block, 'residualGrid', path);
  });

  if (graph.head !== null) check.layer(graph.head, 'head', POINTWISE_KEYS, ['inChannels', 'outChannels']);
  if (graph.pool !== null) {
    const pool = check.object(graph.pool, 'pool', ['type', 'outputGrid']);
    check.oneOf(pool, 'type', ['avg', 'max'], 'pool');
    check.optionalGrid(pool, 'outputGrid', 'pool');
  }
  if (graph.hidden !== undefined) {
    check.array(graph.hidden, 'hidden').forEach((dense, index) => {
      check.layer(dense, `hidden[${index}]`, POINTWISE_KEYS, ['inChannels', 'outChannels']);
    });
  }
  if (graph.classifier !== null) {
    const classifier = check.layer(graph.classifier, 'classifier', CLASSIFIER_KEYS, ['inChannels', 'outChannels']);
    check.oneOf(classifier, 'output', ['softmax', 'logits'], 'classifier');
    check.optionalGrid(classifier, 'logitsGrid', 'classifier');
  }
  return json as GraphConfig;
}

/** Checks that a parsed JSON value is a QuantGrid; path names it in the message. */
export function checkQuantGrid(json: unknown, path: string, fail: (problem: string) => never): QuantGrid {
  new ConfigChecker(fail).optionalGrid({ grid: json }, 'grid', path, path);
  return json as QuantGrid;
}

/** Type and range checks on configuration fields, each naming the field's path on failure. */
class ConfigChecker {
  constructor(private readonly fail: (problem: string) => never) {}

  expect(path: string, expected: string, actual: unknown): never {
    return this.fail(`field ${path} must be ${expected}, but got ${describeJson(actual)}`);
  }

  object(value: unknown, path: string, allowed: readonly string[]): Record<string, unknown> {
    if (!isPlainObject(value)) return this.expect(path, 'an object', value);
    for (const key of Object.keys(value)) {
      if (!allowed.includes(key)) {
        this.fail(`field ${path}.${key} is not part of format version 1`);
      }
    }
    return value;
  }

  array(value: unknown, path: string): unknown[] {
    return Array.isArray(value) ? value : this.expect(path, 'an array', value);
  }

  size(object: Record<string, unknown>, key: string, path: string): void {
    const value = object[key];
    if (!Number.isSafeInteger(value) || (value as number) < 1) this.expect(`${path}.${key}`, 'a positive integer', value);
  }

  nullableSize(object: Record<string, unknown>, key: string, path: string): void {
    if (object[key] !== null) this.size(object, key, path);
  }

  finite(object: Record<string, unknown>, key: string, path: string): void {
    if (typeof object[key] !== 'number' || !Number.isFinite(object[key])) this.expect(`${path}.${key}`, 'a finite number', object[key]);
  }

  boolean(object: Record<string, unknown>, key: string, path: string): void {
    if (typeof object[key] !== 'boolean') this.expect(`${path}.${key}`, 'true or false', object[key]);
  }

  oneOf(object: Record<string, unknown>, key: string, values: readonly string[], path: string): void {
    if (!values.includes(object[key] as string)) this.expect(`${path}.${key}`, `one of ${values.join(', ')}`, object[key]);
  }

  optionalGrid(object: Record<string, unknown>, key: string, path: string, gridPath = `${path}.${key}`): void {
    if (object[key] === undefined) return;
    const grid = this.object(object[key], gridPath, GRID_KEYS);
    this.finite(grid, 'scale', gridPath);
    if ((grid.scale as number) <= 0) this.expect(`${gridPath}.scale`, 'positive', grid.scale);
    for (const field of ['zeroPoint', 'qmin', 'qmax']) {
      if (!Number.isSafeInteger(grid[field])) this.expect(`${gridPath}.${field}`, 'an integer', grid[field]);
    }
    if ((grid.qmin as number) > (grid.qmax as number)) this.expect(`${gridPath}.qmin`, `at most qmax (${grid.qmax})`, grid.qmin);
  }

  padding(value: unknown, path: string): void {
    if (value === 'same' || value === 'valid') return;
    if (!isPlainObject(value)) this.expect(path, '"same", "valid" or { top, bottom, left, right }', value);
    const padding = this.object(value, path, PADDING_KEYS);
    for (const edge of PADDING_KEYS) {
      if (!Number.isSafeInteger(padding[edge]) || (padding[edge] as number) < 0) {
        this.expect(`${path}.${edge}`, 'a non-negative integer', padding[edge]);
      }
    }
  }

  /** Checks the fields every weighted layer shares, plus the listed size fields. */
  layer(value: unknown, path: string, allowed: readonly string[], sizes: readonly string[]): Record<string, unknown> {
    const layer = this.object(value, path, allowed);
    for (const key of sizes) this.size(layer, key, path);
    if (layer.depthMultiplier !== undefined) this.size(layer, 'depthMultiplier', path);
    this.oneOf(layer, 'activation', Object.keys(ACTIVATION_CODES), path);
    this.boolean(layer, 'bias', path);
    if (layer.batchNorm !== undefined) {
      const batchNorm = this.object(layer.batchNorm, `${path}.batchNorm`, ['epsilon']);
      this.finite(batchNorm, 'epsilon', `${path}.batchNorm`);
    }
    this.optionalGrid(layer, 'outputGrid', path);
    if (layer.weightScales !== undefined) {
      this.size(layer, 'weightScales', path);
      const outChannels = (layer.outChannels ?? (layer.channels as number) * ((layer.depthMultiplier as number | undefined) ?? 1)) as number;
      if (layer.weightScales !== 1 && layer.weightScales !== outChannels) {
        this.expect(`${path}.weightScales`, `1 or the output channel count (${outChannels})`, layer.weightScales);
      }
    }
    return layer;
  }
}
