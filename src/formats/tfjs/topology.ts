/**
 * Reads the modelTopology of a TensorFlow.js LayersModel and flattens it into
 * one list of layer calls wired by tensor ids, with nested Functional and
 * Sequential models inlined.
 *
 * Two JSON forms exist:
 * - Keras 2 (and tfjs-layers): InputLayer `batch_input_shape`, inbound nodes as
 *   lists `[[[layerName, nodeIndex, tensorIndex, kwargs], ...], ...]`;
 * - Keras 3: InputLayer `batch_shape`, `module` and `registered_name` keys, and
 *   inbound nodes as `{args, kwargs}` objects whose tensors are
 *   `{class_name: '__keras_tensor__', config: {keras_history: [layer, node, tensor]}}`.
 * The converter writes either the model config itself or wraps it in
 * `model_config`; both are accepted.
 */
import { describeValue, TfjsFormatError } from './errors.js';

/** One layer of the file, with its place among nested models. */
export interface KerasLayer {
  className: string;
  name: string;
  /** Names of the nested models that contain the layer, outermost first (empty for the outer model). */
  scope: string[];
  config: Record<string, unknown>;
}

/** One call of a layer on its input tensors. */
export interface LayerCall {
  layer: KerasLayer;
  inputs: string[];
  output: string;
}

/** A model input: the tensor it provides and the shape its InputLayer declares. */
export interface ModelInput {
  tensor: string;
  layer: KerasLayer;
  /** [batch, height, width, channels] with null for free dimensions, or null when the file gives none. */
  shape: Array<number | null> | null;
}

/** The whole model as one flat list of calls, in an order where every input is computed first. */
export interface FlatModel {
  name: string;
  /** 'keras3' when the file uses the Keras 3 JSON form anywhere. */
  form: 'keras2' | 'keras3';
  input: ModelInput;
  output: string;
  calls: LayerCall[];
}

const MODEL_CLASSES = new Set(['Functional', 'Model', 'Sequential']);

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Describes a layer for messages: "layer 'block1a_dwconv' (DepthwiseConv2D) in model 'efficientnetb0'". */
export function describeLayer(layer: KerasLayer): string {
  const scope = layer.scope.length > 0 ? ` in model '${layer.scope.join('/')}'` : '';
  return `layer '${layer.name}' (${layer.className})${scope}`;
}

/** Returns true when a layer class is a nested model that gets inlined. */
export function isModelClass(className: string): boolean {
  return MODEL_CLASSES.has(className);
}

/** Reference from an inbound node to the output of another layer's call. */
interface TensorReference {
  layer: string;
  node: number;
  tensor: number;
}

/** Flattens a modelTopology (with or without its `model_config` wrapper). */
export function flattenTopology(topology: unknown, source: string): FlatModel {
  if (!isObject(topology)) {
    throw new TfjsFormatError(
      `Invalid TF.js model ${source}: modelTopology must be an object, but got ${describeValue(topology)}. ` +
        'Export the model again with the TensorFlow.js converter.',
    );
  }
  const root = isObject(topology.model_config) ? topology.model_config : topology;
  const className = root.class_name;
  if (typeof className !== 'string' || !isModelClass(className)) {
    throw new TfjsFormatError(
      `Unsupported TF.js model ${source}: the topology's class_name must be Functional, Model or Sequential, ` +
        `but got ${describeValue(className)}. Only Keras LayersModel files can be imported; ` +
        'TF.js graph models (tensorflowjs_converter --output_format tfjs_graph_model) are not supported.',
    );
  }
  const flattener = new Flattener(source);
  const rootName = modelName(root, 'model');
  const outputs = flattener.model(root, rootName, [], null);
  if (flattener.inputs.length !== 1 || outputs.length !== 1) {
    throw new TfjsFormatError(
      `Unsupported TF.js model ${source}: the model must have 1 input and 1 output, but it has ` +
        `${flattener.inputs.length} inputs and ${outputs.length} outputs. Export a single-image classifier or feature extractor.`,
    );
  }
  return {
    name: rootName,
    form: flattener.keras3 ? 'keras3' : 'keras2',
    input: flattener.inputs[0],
    output: outputs[0],
    calls: flattener.calls,
  };
}

function modelName(entry: JsonObject, fallback: string): string {
  const config = isObject(entry.config) ? entry.config : {};
  const name = entry.name ?? config.name;
  return typeof name === 'string' && name.length > 0 ? name : fallback;
}

class Flattener {
  readonly calls: LayerCall[] = [];
  readonly inputs: ModelInput[] = [];
  keras3 = false;

  constructor(private readonly source: string) {}

  /** Inlines one model and returns its output tensors; `bound` contains the tensors its inputs read, or null for the outer model. */
  model(entry: JsonObject, name: string, scope: string[], bound: string[] | null): string[] {
    if ('module' in entry || 'registered_name' in entry) this.keras3 = true;
    const className = entry.class_name as string;
    const config = entry.config;
    if (className === 'Sequential') {
      const layers = Array.isArray(config) ? config : isObject(config) ? config.layers : undefined;
      if (!Array.isArray(layers)) throw this.invalid(`Sequential model '${name}'`, 'config.layers', 'a list of layers', layers);
      return [this.sequential(layers, name, scope, bound, isObject(config) ? config : {})];
    }
    if (!isObject(config) || !Array.isArray(config.layers)) {
      throw this.invalid(`${className} model '${name}'`, 'config.layers', 'a list of layers', isObject(config) ? config.layers : config);
    }
    return this.functional(config, name, scope, bound);
  }

  private functional(config: JsonObject, name: string, scope: string[], bound: string[] | null): string[] {
    const where = `model '${name}'`;
    const layers = (config.layers as unknown[]).map((entry, index) => this.layerEntry(entry, `${where} layer ${index}`));
    const byName = new Map(layers.map((entry) => [entry.name, entry]));
    const inputRefs = this.references(config.input_layers, `${where} input_layers`);
    const outputRefs = this.references(config.output_layers, `${where} output_layers`);
    const nodeOutputs = new Map<string, string[]>();
    const key = (layer: string, node: number) => `${layer}#${node}`;

    if (bound !== null && bound.length !== inputRefs.length) {
      throw new TfjsFormatError(
        `Invalid TF.js model ${this.source}: nested ${where} has ${inputRefs.length} inputs, but it is called on ${bound.length} tensors. ` +
          'Export the model again.',
      );
    }
    inputRefs.forEach((ref, index) => {
      const entry = byName.get(ref.layer);
      if (entry === undefined || entry.className !== 'InputLayer') {
        throw this.invalid(where, 'input_layers', 'names of InputLayer layers', ref.layer);
      }
      nodeOutputs.set(key(ref.layer, 0), [bound !== null ? bound[index] : this.addInput(entry, scope)]);
    });

    const nodesByLayer = new Map(
      layers.map((entry) => [
        entry.name,
        entry.nodes.map((node, index) => this.inboundNode(node, `${where} layer '${entry.name}' inbound node ${index}`)),
      ]),
    );
    const allReferences = [...[...nodesByLayer.values()].flat(2), ...outputRefs];
    for (const ref of allReferences) {
      if (!byName.has(ref.layer)) throw this.invalid(where, 'inbound_nodes and output_layers', 'names of layers of the same model', ref.layer);
    }
    // Keras counts a nested model's own construction node, which the config leaves out, so references to its
    // calls start at node 1; tfjs-layers starts them at 0. A reference one past the listed nodes marks the Keras count.
    const nodeOffset = new Map<string, number>();
    for (const entry of layers) {
      if (!isModelClass(entry.className)) continue;
      const past = allReferences.some((ref) => ref.layer === entry.name && ref.node >= entry.nodes.length);
      nodeOffset.set(entry.name, past ? 1 : 0);
    }
    const outputKey = (ref: TensorReference) => key(ref.layer, ref.node - (nodeOffset.get(ref.layer) ?? 0));

    // Keras writes layers in an order where inputs come first, but nothing requires it, so repeat until every call is wired.
    let pending = layers.filter((entry) => !(entry.className === 'InputLayer' && nodeOutputs.has(key(entry.name, 0))));
    while (pending.length > 0) {
      const waiting: typeof pending = [];
      for (const entry of pending) {
        if (entry.className === 'InputLayer') {
          throw new TfjsFormatError(
            `Unsupported TF.js model ${this.source}: InputLayer '${entry.name}' of ${where} is not listed in input_layers. ` +
              'The importer supports models with one input; export the model again.',
          );
        }
        const nodes = nodesByLayer.get(entry.name)!;
        if (!nodes.flat().every((ref) => nodeOutputs.has(outputKey(ref)))) {
          waiting.push(entry);
          continue;
        }
        nodes.forEach((refs, nodeIndex) => {
          const inputs = refs.map((ref) => this.resolve(nodeOutputs.get(outputKey(ref))!, ref, entry.name, where));
          nodeOutputs.set(key(entry.name, nodeIndex), this.call(entry, scope, inputs, nodeIndex));
        });
      }
      if (waiting.length === pending.length) {
        const stuck = waiting.map((entry) => `'${entry.name}'`).join(', ');
        throw new TfjsFormatError(
          `Invalid TF.js model ${this.source}: in ${where}, layers ${stuck} read outputs that no layer computes ` +
            '(a missing inbound node or a cycle). Export the model again.',
        );
      }
      pending = waiting;
    }

    return outputRefs.map((ref) => {
      const outputs = nodeOutputs.get(outputKey(ref));
      if (outputs === undefined) throw this.invalid(where, 'output_layers', 'outputs of its layers', [ref.layer, ref.node, ref.tensor]);
      return this.resolve(outputs, ref, 'output_layers', where);
    });
  }

  private sequential(layers: unknown[], name: string, scope: string[], bound: string[] | null, config: JsonObject): string {
    const where = `Sequential model '${name}'`;
    const entries = layers.map((entry, index) => this.layerEntry(entry, `${where} layer ${index}`));
    let start = 0;
    let current: string;
    if (bound !== null) {
      if (bound.length !== 1) {
        throw new TfjsFormatError(`Invalid TF.js model ${this.source}: ${where} is called on ${bound.length} tensors, but it takes 1.`);
      }
      current = bound[0];
      if (entries[0]?.className === 'InputLayer') start = 1;
    } else if (entries[0]?.className === 'InputLayer') {
      current = this.addInput(entries[0], scope);
      start = 1;
    } else {
      // Keras 2 puts the input shape on the first layer; Keras 3 may only keep build_input_shape.
      const first = entries[0]?.config ?? {};
      const shape = first.batch_input_shape ?? first.batch_shape ?? config.build_input_shape ?? null;
      const inputLayer: ParsedEntry = { className: 'InputLayer', name: `${name}_input`, config: { batch_input_shape: shape }, nodes: [] };
      current = this.addInput(inputLayer, scope);
    }
    for (const entry of entries.slice(start)) {
      if (entry.className === 'InputLayer') {
        throw new TfjsFormatError(`Unsupported TF.js model ${this.source}: ${where} has InputLayer '${entry.name}' after its first layer.`);
      }
      const outputs = this.call(entry, scope, [current], 0);
      if (outputs.length !== 1) {
        throw new TfjsFormatError(
          `Unsupported TF.js model ${this.source}: layer '${entry.name}' in ${where} has ${outputs.length} outputs, but a Sequential layer must have 1.`,
        );
      }
      current = outputs[0];
    }
    return current;
  }

  /** Records one call of a layer, or inlines a nested model, and returns the output tensors. */
  private call(entry: ParsedEntry, scope: string[], inputs: string[], node: number): string[] {
    if (isModelClass(entry.className)) {
      return this.model({ class_name: entry.className, config: entry.raw?.config ?? entry.config }, entry.name, [...scope, entry.name], inputs);
    }
    const layer: KerasLayer = { className: entry.className, name: entry.name, scope, config: entry.config };
    const output = `${[...scope, entry.name].join('/')}#${node}`;
    this.calls.push({ layer, inputs, output });
    return [output];
  }

  private addInput(entry: ParsedEntry, scope: string[]): string {
    const config = entry.config;
    if ('batch_shape' in config) this.keras3 = true;
    const raw = config.batch_input_shape ?? config.batch_shape ?? null;
    let shape: Array<number | null> | null = null;
    if (raw !== null) {
      if (!Array.isArray(raw) || !raw.every((dim) => dim === null || (Number.isInteger(dim) && dim > 0))) {
        throw this.invalid(`InputLayer '${entry.name}'`, 'batch_input_shape', 'a list of positive integers or nulls', raw);
      }
      shape = raw as Array<number | null>;
    }
    const layer: KerasLayer = { className: 'InputLayer', name: entry.name, scope, config };
    const tensor = `${[...scope, entry.name].join('/')}#0`;
    this.inputs.push({ tensor, layer, shape });
    return tensor;
  }

  private resolve(outputs: string[], ref: TensorReference, reader: string, where: string): string {
    const tensor = outputs[ref.tensor];
    if (tensor === undefined) {
      throw new TfjsFormatError(
        `Invalid TF.js model ${this.source}: '${reader}' in ${where} reads output ${ref.tensor} of layer '${ref.layer}', ` +
          `which has ${outputs.length} outputs. Export the model again.`,
      );
    }
    return tensor;
  }

  private layerEntry(entry: unknown, where: string): ParsedEntry {
    if (!isObject(entry)) throw this.invalid(where, 'the layer entry', 'an object', entry);
    if ('module' in entry || 'registered_name' in entry) this.keras3 = true;
    const className = entry.class_name;
    if (typeof className !== 'string') throw this.invalid(where, 'class_name', 'a string', className);
    const config = isObject(entry.config) ? entry.config : {};
    const name = entry.name ?? config.name;
    if (typeof name !== 'string' || name.length === 0) throw this.invalid(where, 'name', 'a non-empty string', name);
    const nodes = entry.inbound_nodes ?? [];
    if (!Array.isArray(nodes)) throw this.invalid(`layer '${name}'`, 'inbound_nodes', 'a list', nodes);
    return { className, name, config, nodes, raw: entry };
  }

  /** Parses one inbound node in either form into the tensors it reads. */
  private inboundNode(node: unknown, where: string): TensorReference[] {
    if (Array.isArray(node)) return node.map((item) => this.reference(item, where));
    if (isObject(node) && 'args' in node) {
      this.keras3 = true;
      const refs: TensorReference[] = [];
      collectKerasTensors(node.args, refs, (history) => this.reference(history, where));
      if (refs.length === 0) throw this.invalid(where, 'args', 'at least one __keras_tensor__', node.args);
      return refs;
    }
    throw this.invalid(where, 'the node', 'a list of [layer, node, tensor] references or an {args, kwargs} object', node);
  }

  /** Reads input_layers or output_layers: a list of [layer, node, tensor], or (Keras 3, one tensor) a single one. */
  private references(value: unknown, where: string): TensorReference[] {
    if (!Array.isArray(value) || value.length === 0) throw this.invalid(where, 'the value', 'a list of [layer, node, tensor] references', value);
    if (typeof value[0] === 'string') return [this.reference(value, where)];
    return value.map((item) => this.reference(item, where));
  }

  private reference(value: unknown, where: string): TensorReference {
    if (
      !Array.isArray(value) ||
      value.length < 3 ||
      typeof value[0] !== 'string' ||
      !Number.isInteger(value[1]) ||
      !Number.isInteger(value[2]) ||
      value[1] < 0 ||
      value[2] < 0
    ) {
      throw this.invalid(where, 'a tensor reference', '[layerName, nodeIndex, tensorIndex]', value);
    }
    return { layer: value[0], node: value[1], tensor: value[2] };
  }

  private invalid(where: string, field: string, expected: string, actual: unknown): TfjsFormatError {
    return new TfjsFormatError(
      `Invalid TF.js model ${this.source}: ${field} of ${where} must be ${expected}, but got ${describeValue(actual)}. ` +
        'Export the model again with the TensorFlow.js converter.',
    );
  }
}

interface ParsedEntry {
  className: string;
  name: string;
  config: JsonObject;
  nodes: unknown[];
  raw?: JsonObject;
}

/** Collects the keras_history of every __keras_tensor__ in a Keras 3 args value, in order. */
function collectKerasTensors(value: unknown, into: TensorReference[], parse: (history: unknown) => TensorReference): void {
  if (Array.isArray(value)) {
    for (const item of value) collectKerasTensors(item, into, parse);
    return;
  }
  if (!isObject(value)) return;
  if (value.class_name === '__keras_tensor__') {
    const config = isObject(value.config) ? value.config : {};
    into.push(parse(config.keras_history));
  }
}
