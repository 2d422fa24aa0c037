/**
 * Decodes the weights of a TensorFlow.js LayersModel: the `weightsManifest` of
 * model.json and its binary shards.
 *
 * The manifest is a list of groups `{paths, weights}`. The shards of a group
 * are concatenated in order, and its weights follow one another in that buffer
 * with no padding, each `shape` elements of `dtype` (little-endian). A weight
 * quantized by the converter stores `quantization.dtype` values instead:
 * uint8 or uint16 q with value = min + q * scale, or float16 halves.
 */
import { allFinite, readFloat16LE, readFloat32LE, readInt32LE } from '../binary.js';
import { describeValue, TfjsFormatError } from './errors.js';
import { describeLayer, type KerasLayer } from './topology.js';

/** Reads one shard by its path as written in the manifest. Throws when it cannot be read, naming what it tried. */
export type ShardReader = (path: string) => Promise<Uint8Array>;

interface Quantization {
  dtype: 'uint8' | 'uint16' | 'float16';
  min: number;
  scale: number;
}

/** One weight of the manifest and where its bytes sit. */
interface ManifestWeight {
  /** The name as written, and without a trailing ":0" output slot. */
  name: string;
  key: string;
  shape: number[];
  dtype: string;
  quantization: Quantization | null;
  bytes: Uint8Array;
}

/** Bytes per element of each manifest dtype with a fixed size. */
const DTYPE_BYTES: Readonly<Record<string, number>> = { float32: 4, int32: 4, float16: 2, bool: 1, complex64: 8 };
const QUANTIZED_BYTES: Readonly<Record<Quantization['dtype'], number>> = { uint8: 1, uint16: 2, float16: 2 };

/** A weight of a layer: its Keras 2 names (the usual one first) and its position among the layer's variables. */
export interface WeightRole {
  names: string[];
  /** Index in the layer's variable list, as Keras 3 files name weights (`layers/<layer>/vars/<index>`). */
  index: number;
}

/** The decoded weights of a model, looked up by layer. */
export class WeightStore {
  private readonly byKey = new Map<string, ManifestWeight>();
  private readonly decoded = new Map<ManifestWeight, Float32Array>();
  /** Names of the decoded weights that hold NaN or infinity. */
  readonly nonFinite: string[] = [];

  constructor(
    weights: ManifestWeight[],
    private readonly source: string,
  ) {
    for (const weight of weights) this.byKey.set(weight.key, weight);
  }

  /** Number of weights in the manifest. */
  get size(): number {
    return this.byKey.size;
  }

  /** Returns true when the manifest has this weight of the layer. */
  has(layer: KerasLayer, role: WeightRole): boolean {
    return this.find(layer, role) !== null;
  }

  /**
   * Reads a weight of a layer as float32 after checking its shape: an expected dimension of -1
   * matches any size, and null matches any shape. Throws when the weight is missing or has another shape.
   */
  read(layer: KerasLayer, role: WeightRole, expected: number[] | null): Float32Array {
    const weight = this.find(layer, role);
    if (weight === null) {
      const examples = [...this.byKey.values()].slice(0, 3).map((w) => `'${w.name}'`).join(', ');
      throw new TfjsFormatError(
        `Missing weight in ${this.source}: ${describeLayer(layer)} needs its ${role.names[0]}, named '${layer.name}/${role.names[0]}' ` +
          `(or 'layers/${layer.name}/vars/${role.index}' in Keras 3 files), but the weights manifest has no such weight ` +
          `(it lists ${this.byKey.size} weights${examples ? `, such as ${examples}` : ''}). Export the model again with its weights.`,
      );
    }
    const matches =
      expected === null || (weight.shape.length === expected.length && expected.every((dim, i) => dim === -1 || dim === weight.shape[i]));
    if (!matches) {
      throw new TfjsFormatError(
        `Invalid weight in ${this.source}: weight '${weight.name}' of ${describeLayer(layer)} must have shape ` +
          `[${expected.map((dim) => (dim === -1 ? '?' : dim))}] to fit the layer, but it has [${weight.shape}]. ` +
          'The weights do not belong to this topology; export model.json and its shards together.',
      );
    }
    return this.decode(weight);
  }

  /**
   * Finds a weight by the names the converters write: `<layer>/<name>` (Keras 2 and tfjs-layers), possibly under
   * the names of the nested models that contain the layer, or `layers/<layer>/vars/<index>` (Keras 3).
   */
  private find(layer: KerasLayer, role: WeightRole): ManifestWeight | null {
    const tails = [...role.names.map((name) => [layer.name, name]), [layer.name, 'vars', String(role.index)]];
    for (const tail of tails) {
      const exact = this.byKey.get([...layer.scope, ...tail].join('/')) ?? this.byKey.get(tail.join('/'));
      if (exact) return exact;
    }
    const candidates: Array<{ weight: ManifestWeight; score: number }> = [];
    for (const weight of this.byKey.values()) {
      const parts = weight.key.split('/');
      const tail = tails.find((t) => t.length < parts.length && t.every((part, i) => parts[parts.length - t.length + i] === part));
      if (tail === undefined) continue;
      // Several nested models may have a layer of this name: score each path by how many of the layer's
      // enclosing model names, innermost first, it ends with (Keras 3 puts 'layers' between them).
      const prefix = parts.slice(0, parts.length - tail.length).filter((part) => part !== 'layers');
      let score = 0;
      while (score < prefix.length && score < layer.scope.length && prefix[prefix.length - 1 - score] === layer.scope[layer.scope.length - 1 - score]) score++;
      candidates.push({ weight, score });
    }
    if (candidates.length <= 1) return candidates[0]?.weight ?? null;
    const best = Math.max(...candidates.map((candidate) => candidate.score));
    const scoped = candidates.filter((candidate) => candidate.score === best);
    if (best > 0 && scoped.length === 1) return scoped[0].weight;
    throw new TfjsFormatError(
      `Ambiguous weights in ${this.source}: ${describeLayer(layer)} matches ${candidates.length} weights ` +
        `(${candidates.map(({ weight }) => `'${weight.name}'`).join(', ')}). Give the layers unique names and export the model again.`,
    );
  }

  private decode(weight: ManifestWeight): Float32Array {
    const cached = this.decoded.get(weight);
    if (cached) return cached;
    const count = weight.shape.reduce((a, b) => a * b, 1);
    const view = new DataView(weight.bytes.buffer, weight.bytes.byteOffset, weight.bytes.byteLength);
    let values: Float32Array = new Float32Array(count);
    const quantization = weight.quantization;
    const integer = weight.dtype === 'int32';
    if (quantization?.dtype === 'uint8' || quantization?.dtype === 'uint16') {
      const { min, scale } = quantization;
      const wide = quantization.dtype === 'uint16';
      for (let i = 0; i < count; i++) {
        const q = wide ? view.getUint16(2 * i, true) : view.getUint8(i);
        const value = q * scale + min;
        values[i] = integer ? Math.round(value) : value;
      }
    } else if (quantization?.dtype === 'float16' || weight.dtype === 'float16') {
      values = readFloat16LE(weight.bytes, count);
    } else if (weight.dtype === 'float32') {
      values = readFloat32LE(weight.bytes, count);
    } else if (weight.dtype === 'int32') {
      values.set(readInt32LE(weight.bytes, count));
    } else if (weight.dtype === 'bool') {
      for (let i = 0; i < count; i++) values[i] = view.getUint8(i);
    } else {
      throw new TfjsFormatError(
        `Unsupported weight in ${this.source}: weight '${weight.name}' has dtype ${weight.dtype}, ` +
          'but layer weights must be float32, float16 or int32. Export the model with float weights.',
      );
    }
    if (!allFinite(values)) this.nonFinite.push(weight.name);
    this.decoded.set(weight, values);
    return values;
  }
}

/** Reads every shard of the manifest and slices it into weights. */
export async function readWeights(manifest: unknown, readShard: ShardReader, source: string): Promise<WeightStore> {
  if (!Array.isArray(manifest)) {
    throw new TfjsFormatError(
      `Invalid TF.js model ${source}: weightsManifest must be a list of {paths, weights} groups, but got ${describeValue(manifest)}. ` +
        'Export the model again with the TensorFlow.js converter.',
    );
  }
  const groups = await Promise.all(manifest.map((group, index) => readGroup(group, index, readShard, source)));
  return new WeightStore(groups.flat(), source);
}

async function readGroup(group: unknown, index: number, readShard: ShardReader, source: string): Promise<ManifestWeight[]> {
  const where = `weightsManifest[${index}]`;
  const invalid = (field: string, expected: string, actual: unknown) =>
    new TfjsFormatError(
      `Invalid TF.js model ${source}: ${field} of ${where} must be ${expected}, but got ${describeValue(actual)}. ` +
        'Export the model again with the TensorFlow.js converter.',
    );
  if (typeof group !== 'object' || group === null) throw invalid('the group', 'an object', group);
  const { paths, weights } = group as { paths?: unknown; weights?: unknown };
  if (!Array.isArray(paths) || !paths.every((path) => typeof path === 'string' && path.length > 0)) {
    throw invalid('paths', 'a list of shard file names', paths);
  }
  if (!Array.isArray(weights)) throw invalid('weights', 'a list of {name, shape, dtype}', weights);

  const specs = weights.map((weight, position) => parseWeightSpec(weight, `${where}.weights[${position}]`, invalid));
  const shards = await Promise.all(
    (paths as string[]).map(async (path) => {
      try {
        return await readShard(path);
      } catch (error) {
        if (error instanceof TfjsFormatError) throw error;
        throw new TfjsFormatError(
          `Failed to load weight shard '${path}' of ${source}: ${(error as Error).message} ` +
            'Keep the shards listed in weightsManifest next to model.json.',
        );
      }
    }),
  );
  const total = shards.reduce((sum, shard) => sum + shard.length, 0);
  const buffer = new Uint8Array(total);
  let offset = 0;
  for (const shard of shards) {
    buffer.set(shard, offset);
    offset += shard.length;
  }

  if (specs.every((spec) => spec.byteLength >= 0)) {
    const required = specs.reduce((sum, spec) => sum + spec.byteLength, 0);
    if (required !== total) throw truncatedShard(paths as string[], shards, required, source, where);
  }
  const result: ManifestWeight[] = [];
  let position = 0;
  for (const spec of specs) {
    const byteLength = spec.dtype === 'string' && spec.quantization === null ? stringBytes(buffer, position, spec.count) : spec.byteLength;
    if (byteLength === null || position + byteLength > total) {
      const needed = byteLength === null ? total + 1 : position + byteLength;
      throw truncatedShard(paths as string[], shards, needed, source, where);
    }
    result.push({ ...spec, bytes: buffer.subarray(position, position + byteLength) });
    position += byteLength;
  }
  if (position !== total) throw truncatedShard(paths as string[], shards, position, source, where);
  return result;
}

interface WeightSpec {
  name: string;
  key: string;
  shape: number[];
  dtype: string;
  quantization: Quantization | null;
  count: number;
  byteLength: number;
}

function parseWeightSpec(
  weight: unknown,
  where: string,
  invalid: (field: string, expected: string, actual: unknown) => TfjsFormatError,
): WeightSpec {
  if (typeof weight !== 'object' || weight === null) throw invalid('the weight', 'an object', weight);
  const { name, shape, dtype, quantization } = weight as { name?: unknown; shape?: unknown; dtype?: unknown; quantization?: unknown };
  if (typeof name !== 'string' || name.length === 0) throw invalid(`name of ${where}`, 'a non-empty string', name);
  if (!Array.isArray(shape) || !shape.every((dim) => Number.isInteger(dim) && dim >= 0)) {
    throw invalid(`shape of weight '${name}'`, 'a list of non-negative integers', shape);
  }
  if (typeof dtype !== 'string') throw invalid(`dtype of weight '${name}'`, 'a string', dtype);
  const count = (shape as number[]).reduce((a, b) => a * b, 1);
  let parsed: Quantization | null = null;
  let byteLength: number;
  if (quantization !== undefined && quantization !== null) {
    const q = quantization as { dtype?: unknown; min?: unknown; scale?: unknown };
    if (q.dtype !== 'uint8' && q.dtype !== 'uint16' && q.dtype !== 'float16') {
      throw invalid(`quantization.dtype of weight '${name}'`, "'uint8', 'uint16' or 'float16'", q.dtype);
    }
    if (q.dtype !== 'float16' && (typeof q.min !== 'number' || typeof q.scale !== 'number' || !Number.isFinite(q.min) || !Number.isFinite(q.scale))) {
      throw invalid(`quantization of weight '${name}'`, `finite numbers min and scale for ${q.dtype}`, quantization);
    }
    parsed = { dtype: q.dtype, min: (q.min as number) ?? 0, scale: (q.scale as number) ?? 1 };
    byteLength = count * QUANTIZED_BYTES[q.dtype];
  } else if (dtype === 'string') {
    byteLength = -1;
  } else {
    const size = DTYPE_BYTES[dtype];
    if (size === undefined) throw invalid(`dtype of weight '${name}'`, 'float32, float16, int32, bool, complex64 or string', dtype);
    byteLength = count * size;
  }
  return { name, key: name.replace(/:\d+$/, ''), shape: shape as number[], dtype, quantization: parsed, count, byteLength };
}

/** Byte length of `count` strings stored as a uint32 length then the bytes, or null when they run past the buffer. */
function stringBytes(buffer: Uint8Array, start: number, count: number): number | null {
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  let position = start;
  for (let i = 0; i < count; i++) {
    if (position + 4 > buffer.length) return null;
    position += 4 + view.getUint32(position, true);
  }
  return position > buffer.length ? null : position - start;
}

/**
 * Names the shard whose size breaks the group. The converter fills every shard
 * but the last to one size, so the first shard that differs from that pattern
 * (or the only shard) is the one to name.
 */
function truncatedShard(paths: string[], shards: Uint8Array[], needed: number, source: string, where: string): TfjsFormatError {
  const total = shards.reduce((sum, shard) => sum + shard.length, 0);
  let culprit = shards.length - 1;
  if (shards.length > 1) {
    const shardSize = shards[0].length;
    const expectedLast = needed - shardSize * (shards.length - 1);
    const index = shards.findIndex((shard, i) => (i < shards.length - 1 ? shard.length !== shardSize : shard.length !== expectedLast));
    culprit = index >= 0 ? index : culprit;
  }
  const sizes = shards.map((shard, i) => `'${paths[i]}' ${shard.length} bytes`).join(', ');
  return new TfjsFormatError(
    `Invalid weight shard '${paths[culprit]}' of ${source}: the weights of ${where} need ${needed} bytes, ` +
      `but its shards hold ${total} (${sizes}). The shard is ${total < needed ? 'truncated' : 'longer than its weights'}; ` +
      'download or export model.json and its shards again.',
  );
}
