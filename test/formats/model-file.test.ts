import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { importModel } from '../../src/formats/index.js';
import { importModelFile, isModelFile, ModelFileError, serializeModel } from '../../src/formats/safetensors/index.js';
import { efficientNetArchitecture, randomGraph } from '../../src/graph/configs.js';
import type { Graph, ModelDescription, PointwiseLayer } from '../../src/graph/spec.js';
import { createModel, loadModel, type Model } from '../../src/model.js';
import { BUILDS, buildOptions } from '../support/buffers.js';
import { FIXTURES_MISSING, FLOWER_MODEL, MOBILENET_MODEL, fixturesPresent, readInput } from '../support/fixtures.js';
import { Random } from '../support/prng.js';

// ---------------------------------------------------------------------------
// An independent safetensors reader and writer, so the tests do not trust the code under test.

interface RawTensor {
  name: string;
  dtype: string;
  shape: number[];
  data: Uint8Array;
}

interface RawFile {
  headerLength: number;
  header: Record<string, unknown>;
  metadata: Record<string, string> | undefined;
  tensors: RawTensor[];
}

function parseFile(bytes: Uint8Array): RawFile {
  const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as Record<string, unknown>;
  const data = bytes.subarray(8 + headerLength);
  const tensors: RawTensor[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const entry = value as { dtype: string; shape: number[]; data_offsets: [number, number] };
    tensors.push({ name, dtype: entry.dtype, shape: entry.shape, data: data.subarray(entry.data_offsets[0], entry.data_offsets[1]) });
  }
  return { headerLength, header, metadata: header.__metadata__ as Record<string, string> | undefined, tensors };
}

/** Writes tensors contiguously in the given order, with no header padding. */
function writeFile(metadata: Record<string, string> | undefined, tensors: RawTensor[]): Uint8Array {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  let offset = 0;
  for (const tensor of tensors) {
    header[tensor.name] = { dtype: tensor.dtype, shape: tensor.shape, data_offsets: [offset, offset + tensor.data.length] };
    offset += tensor.data.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const file = new Uint8Array(8 + json.length + offset);
  new DataView(file.buffer).setBigUint64(0, BigInt(json.length), true);
  file.set(json, 8);
  let position = 8 + json.length;
  for (const tensor of tensors) {
    file.set(tensor.data, position);
    position += tensor.data.length;
  }
  return file;
}

/** Parses a file, lets edit change its metadata and tensor list, and writes it again. */
function rebuild(bytes: Uint8Array, edit: (file: RawFile) => void): Uint8Array {
  const file = parseFile(bytes);
  file.metadata = file.metadata ? { ...file.metadata } : undefined;
  edit(file);
  return writeFile(file.metadata, file.tensors);
}

/** Replaces the header JSON, keeping the data section as it is. */
function replaceHeader(bytes: Uint8Array, edit: (header: Record<string, any>) => void): Uint8Array {
  const file = parseFile(bytes);
  edit(file.header);
  const json = new TextEncoder().encode(JSON.stringify(file.header));
  const data = bytes.subarray(8 + file.headerLength);
  const result = new Uint8Array(8 + json.length + data.length);
  new DataView(result.buffer).setBigUint64(0, BigInt(json.length), true);
  result.set(json, 8);
  result.set(data, 8 + json.length);
  return result;
}

// ---------------------------------------------------------------------------
// Graphs and comparisons

const NORMALIZATION = { mean: [123.675, 116.28, 103.53] as [number, number, number], std: [58.395, 57.12, 57.375] as [number, number, number] };

function builtin(name: string, graph: Graph, labels: string[] | null = null): ModelDescription {
  return { name, format: 'builtin', graph, labels, normalization: NORMALIZATION, quantized: false };
}

/**
 * Builds a small graph with every optional feature the built-in architectures
 * lack: any input size, explicit stem padding, a depth multiplier, biases beside
 * BatchNorm, 'valid' padding, a max pool, hidden dense layers and logits output.
 */
function customGraph(seed: number): Graph {
  const random = new Random(seed);
  const batchNorm = (channels: number, epsilon: number) => ({
    gamma: random.floats(channels, 0.5, 1.5),
    beta: random.floats(channels, -0.2, 0.2),
    mean: random.floats(channels, -0.2, 0.2),
    variance: random.floats(channels, 0.5, 1.5),
    epsilon,
  });
  const dense = (inChannels: number, outChannels: number, activation: PointwiseLayer['activation'], withBatchNorm: boolean): PointwiseLayer => ({
    inChannels,
    outChannels,
    activation,
    weight: random.floats(inChannels * outChannels, -0.5, 0.5),
    bias: withBatchNorm ? null : random.floats(outChannels, -0.1, 0.1),
    ...(withBatchNorm ? { batchNorm: batchNorm(outChannels, 1e-3) } : {}),
  });
  return {
    inputHeight: null,
    inputWidth: null,
    inputChannels: 3,
    stem: {
      kernel: 3,
      stride: 2,
      padding: { top: 1, bottom: 0, left: 1, right: 0 },
      inChannels: 3,
      outChannels: 8,
      activation: 'relu6',
      weight: random.floats(3 * 3 * 3 * 8, -0.4, 0.4),
      bias: random.floats(8, -0.1, 0.1),
      batchNorm: batchNorm(8, 1e-3),
    },
    blocks: [
      {
        inChannels: 8,
        outChannels: 8,
        expand: null,
        depthwise: {
          kernel: 3,
          stride: 1,
          padding: 'same',
          channels: 8,
          depthMultiplier: 2,
          activation: 'swish',
          weight: random.floats(3 * 3 * 16, -0.5, 0.5),
          bias: null,
          batchNorm: batchNorm(16, 1e-5),
        },
        se: { reduce: dense(16, 4, 'swish', false), expand: dense(4, 16, 'sigmoid', false) },
        project: dense(16, 8, 'linear', true),
        residual: true,
      },
      {
        inChannels: 8,
        outChannels: 12,
        expand: dense(8, 24, 'hardswish', true),
        depthwise: {
          kernel: 5,
          stride: 2,
          padding: 'valid',
          channels: 24,
          activation: 'relu',
          weight: random.floats(5 * 5 * 24, -0.3, 0.3),
          bias: random.floats(24, -0.1, 0.1),
        },
        se: null,
        project: dense(24, 12, 'linear', false),
        residual: false,
      },
    ],
    head: dense(12, 16, 'relu', true),
    pool: { type: 'max' },
    hidden: [dense(16, 10, 'relu', false), dense(10, 6, 'swish', false)],
    classifier: { ...dense(6, 5, 'linear', false), output: 'logits' },
  };
}

/** Index of the first value whose bits differ, or -1. */
function firstBitDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  const left = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const right = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < left.length; i++) if (left[i] !== right[i]) return i;
  return -1;
}

/**
 * Replaces every Float32Array in a value by its length and collects it by path.
 * Structures then compare with toEqual and arrays bit for bit, because toEqual
 * walks typed arrays one element at a time, which takes seconds on a real model.
 */
function splitArrays(value: unknown, path: string, arrays: Map<string, Float32Array>): unknown {
  if (value instanceof Float32Array) {
    arrays.set(path, value);
    return `Float32Array(${value.length})`;
  }
  if (Array.isArray(value)) return value.map((item, index) => splitArrays(item, `${path}[${index}]`, arrays));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, splitArrays(item, `${path}.${key}`, arrays)]));
  }
  return value;
}

/** Checks that a reloaded description equals the original, format aside, with every tensor bit-identical. */
function expectSameDescription(reloaded: ModelDescription, original: ModelDescription): void {
  const reloadedArrays = new Map<string, Float32Array>();
  const originalArrays = new Map<string, Float32Array>();
  expect(splitArrays(reloaded, 'description', reloadedArrays)).toEqual(splitArrays({ ...original, format: 'efficientnet-wasm' }, 'description', originalArrays));
  for (const [path, expected] of originalArrays) {
    const actual = reloadedArrays.get(path)!;
    const index = firstBitDifference(expected, actual);
    expect(index, `${path}[${index}] is ${actual[index]}, expected ${expected[index]}`).toBe(-1);
  }
}

/** Runs both descriptions on every kernel build and checks outputs bit for bit and info field by field. */
async function expectSameModel(original: ModelDescription, reloaded: ModelDescription, input: Float32Array, size?: { height: number; width: number }) {
  for (const wasmPath of BUILDS) {
    const before: Model = await createModel(original, buildOptions(wasmPath));
    const after: Model = await createModel(reloaded, buildOptions(wasmPath));
    try {
      const expected = before.predict(input, size);
      const actual = after.predict(input, size);
      expect(expected.every(Number.isFinite), `${original.name} on ${wasmPath}: original output is finite`).toBe(true);
      const index = firstBitDifference(expected, actual);
      expect(index, `${original.name} on ${wasmPath}: output ${index} is ${actual[index]}, expected ${expected[index]}`).toBe(-1);
      expect(after.info).toEqual({ ...before.info, format: 'efficientnet-wasm' });
    } finally {
      before.dispose();
      after.dispose();
    }
  }
}

function seededInput(count: number, seed: number, low: number, high: number): Float32Array {
  return new Random(seed).floats(count, low, high);
}

// ---------------------------------------------------------------------------

describe('model file round trip on built-in graphs', () => {
  const cases: { name: string; description: () => ModelDescription; size?: { height: number; width: number } }[] = [
    {
      name: 'efficientnet-b0 scaled down',
      description: () =>
        builtin(
          'b0-small',
          randomGraph(efficientNetArchitecture('b0', { numClasses: 10, scaling: { width: 0.25, depth: 0.3, resolution: 40 } }), 7, { gain: 2 }),
          Array.from({ length: 10 }, (_, i) => `class ${i} "quoted" ünïcode`),
        ),
    },
    {
      name: 'efficientnet-lite0 features',
      description: () => builtin('lite0-features', randomGraph(efficientNetArchitecture('lite0', { numClasses: 0, scaling: { width: 0.25, depth: 0.3, resolution: 32 } }), 11)),
    },
    {
      name: 'custom graph, any input size',
      description: () => ({ ...builtin('custom', customGraph(5)), inputSpace: 'pixels' }),
      size: { height: 20, width: 17 },
    },
  ];

  for (const { name, description: make, size } of cases) {
    test(name, async () => {
      const original = make();
      const bytes = serializeModel(original);
      expect(isModelFile(bytes)).toBe(true);
      const reloaded = importModelFile(bytes, { source: `${name}.safetensors` });
      expectSameDescription(reloaded, original);

      const height = size?.height ?? original.graph.inputHeight!;
      const width = size?.width ?? original.graph.inputWidth!;
      const [low, high] = original.inputSpace === 'pixels' ? [0, 255] : [-1, 1];
      await expectSameModel(original, reloaded, seededInput(height * width * 3, 42, low, high), size);
    });
  }

  test('converting twice gives the same bytes', () => {
    const bytes = serializeModel(builtin('custom', customGraph(9)));
    const again = serializeModel(importModelFile(bytes, { source: 'custom.safetensors' }));
    expect(again.length).toBe(bytes.length);
    expect(Buffer.from(again).equals(Buffer.from(bytes))).toBe(true);
  });

  test('loadModel dispatches to the reader', async () => {
    const model = await loadModel(serializeModel(builtin('custom', customGraph(3))));
    try {
      expect(model.info.format).toBe('efficientnet-wasm');
      expect(model.info.name).toBe('custom');
    } finally {
      model.dispose();
    }
  });
});

describe('model file layout', () => {
  const description = builtin('b0-small', randomGraph(efficientNetArchitecture('b0', { numClasses: 4, scaling: { width: 0.25, depth: 0.3, resolution: 32 } }), 2), ['a', 'b', 'c', 'd']);
  const bytes = serializeModel(description);
  const file = parseFile(bytes);

  test('data starts at a multiple of 8', () => {
    expect((8 + file.headerLength) % 8).toBe(0);
    expect(new TextDecoder().decode(bytes.subarray(8, 9))).toBe('{');
  });

  test('offsets cover the data exactly', () => {
    const dataLength = bytes.length - 8 - file.headerLength;
    const ranges = Object.entries(file.header)
      .filter(([name]) => name !== '__metadata__')
      .map(([name, value]) => ({ name, ...(value as { dtype: string; shape: number[]; data_offsets: [number, number] }) }));
    expect(ranges.length).toBeGreaterThan(0);
    let covered = 0;
    for (const range of [...ranges].sort((a, b) => a.data_offsets[0] - b.data_offsets[0])) {
      expect(range.data_offsets[0], `${range.name} starts where the previous tensor ends`).toBe(covered);
      expect(range.dtype, range.name).toBe('F32');
      const count = range.shape.reduce((a, b) => a * b, 1);
      expect(range.data_offsets[1] - range.data_offsets[0], `${range.name} byte size`).toBe(count * 4);
      covered = range.data_offsets[1];
    }
    expect(covered).toBe(dataLength);
  });

  test('metadata holds strings and the marker', () => {
    const metadata = file.metadata!;
    for (const [key, value] of Object.entries(metadata)) expect(typeof value, key).toBe('string');
    expect(metadata.format).toBe('efficientnet-wasm');
    expect(metadata.format_version).toBe('1');
    expect(metadata.source_format).toBe('builtin');
    expect(metadata.quantized).toBe('false');
    expect(JSON.parse(metadata.labels)).toEqual(['a', 'b', 'c', 'd']);
    expect(JSON.parse(metadata.normalization)).toEqual(NORMALIZATION);
    const graph = JSON.parse(metadata.graph);
    expect(graph.stem.kernel).toBe(3);
    expect(graph.stem.weight).toBeUndefined();
  });

  test('tensor names follow the graph', () => {
    const names = file.tensors.map((tensor) => tensor.name);
    expect(names[0]).toBe('stem/weight');
    expect(names).toContain('stem/batch_norm/gamma');
    expect(names).toContain('blocks/0/depthwise/batch_norm/variance');
    expect(names).toContain('blocks/0/se/reduce/bias');
    expect(names).toContain('blocks/1/expand/weight');
    expect(names).toContain('head/weight');
    expect(names[names.length - 1]).toBe('classifier/bias');
    const stem = file.tensors.find((tensor) => tensor.name === 'stem/weight')!;
    expect(stem.shape).toEqual([3, 3, 3, description.graph.stem.outChannels]);
  });

  test('aligned bytes are read without a copy', () => {
    const reloaded = importModelFile(bytes, { source: 'aligned.safetensors' });
    expect(reloaded.graph.stem.weight.buffer).toBe(bytes.buffer);
  });

  test('unaligned bytes are copied once', () => {
    const shifted = new Uint8Array(bytes.length + 1).subarray(1);
    shifted.set(bytes);
    expect(shifted.byteOffset % 4).toBe(1);
    const reloaded = importModelFile(shifted, { source: 'unaligned.safetensors' });
    const buffer = reloaded.graph.stem.weight.buffer;
    expect(buffer).not.toBe(shifted.buffer);
    expect(reloaded.graph.classifier!.weight.buffer).toBe(buffer);
    expect(reloaded.graph.blocks[1].depthwise.weight.buffer).toBe(buffer);
    expectSameDescription(reloaded, description);
  });
});

describe('model file errors', () => {
  const description = builtin('custom', customGraph(4), ['a', 'b', 'c', 'd', 'e']);
  const bytes = serializeModel(description);
  const source = 'model.safetensors';
  const read = (file: Uint8Array) => () => importModelFile(file, { source });

  test('truncated file fails at every cut point', () => {
    const headerLength = parseFile(bytes).headerLength;
    const cuts: [number, RegExp][] = [
      [4, /the file has 4 bytes, but its 8-byte header length alone needs more\. The file is truncated/],
      [8, /the header length is \d+ bytes, so the file must have at least \d+ bytes, but it has 8\. The file is truncated/],
      [8 + Math.floor(headerLength / 2), /so the file must have at least \d+ bytes, but it has \d+\. The file is truncated/],
      [8 + headerLength + 100, /tensor "[^"]+" ends at data byte \d+, but the data section has only 100 bytes\. The file is truncated/],
      [bytes.length - 1, /tensor "classifier\/bias" ends at data byte \d+, but the data section has only \d+ bytes\. The file is truncated/],
    ];
    for (const [cut, message] of cuts) {
      expect(read(bytes.slice(0, cut)), `cut at ${cut} of ${bytes.length}`).toThrow(message);
      expect(read(bytes.slice(0, cut)), `cut at ${cut}`).toThrow(ModelFileError);
    }
  });

  test('truncated file through loadModel', async () => {
    await expect(loadModel(bytes.slice(0, bytes.length - 10))).rejects.toThrow(/Invalid safetensors file model bytes: .*The file is truncated/);
  });

  test('corrupt header JSON', () => {
    const corrupt = bytes.slice();
    corrupt[9] = 0x23; // the '"' that opens the first key becomes '#'
    expect(read(corrupt)).toThrow(/^Invalid safetensors file model\.safetensors: the header is not valid JSON \(.+\)\. The file is corrupt/);
  });

  test('header length past the end', () => {
    const corrupt = bytes.slice();
    new DataView(corrupt.buffer).setBigUint64(0, BigInt(bytes.length), true);
    expect(read(corrupt)).toThrow(
      `Invalid safetensors file model.safetensors: the header length is ${bytes.length} bytes, so the file must have at least ` +
        `${bytes.length + 8} bytes, but it has ${bytes.length}. The file is truncated; copy or convert it again.`,
    );
  });

  test('header length over the limit', () => {
    const corrupt = bytes.slice();
    new DataView(corrupt.buffer).setBigUint64(0, 2n ** 40n, true);
    expect(read(corrupt)).toThrow('the header length is 1099511627776 bytes, more than the limit of 100000000');
  });

  test('overlapping tensors', () => {
    const corrupt = replaceHeader(bytes, (header) => {
      header['stem/batch_norm/beta'].data_offsets = [...header['stem/batch_norm/gamma'].data_offsets];
    });
    expect(read(corrupt)).toThrow(/tensor "stem\/batch_norm\/(beta|gamma)" \(data_offsets \[\d+, \d+\]\) overlaps tensor "stem\/batch_norm\/(gamma|beta)"/);
  });

  test('tensor past the data', () => {
    const corrupt = replaceHeader(bytes, (header) => {
      const [begin, end] = header['classifier/bias'].data_offsets;
      header['classifier/bias'].data_offsets = [begin + 8, end + 8];
    });
    const dataLength = bytes.length - 8 - parseFile(bytes).headerLength;
    expect(read(corrupt)).toThrow(
      `tensor "classifier/bias" ends at data byte ${dataLength + 8}, but the data section has only ${dataLength} bytes`,
    );
  });

  test('byte size not matching the shape', () => {
    const corrupt = replaceHeader(bytes, (header) => {
      header['stem/bias'].shape = [9];
    });
    expect(read(corrupt)).toThrow('tensor "stem/bias" (F32 [9]) must take 36 bytes, but its data_offsets');
  });

  test('gap between tensors', () => {
    const corrupt = replaceHeader(bytes, (header) => {
      delete header['stem/bias'];
    });
    expect(read(corrupt)).toThrow(/data bytes from \d+ up to \d+ belong to no tensor/);
  });

  test('wrong dtype', () => {
    const other = replaceHeader(bytes, (header) => {
      header['blocks/1/depthwise/weight'].dtype = 'I32';
    });
    expect(read(other)).toThrow(
      'Invalid efficientnet-wasm model file model.safetensors: tensor blocks/1/depthwise/weight must have dtype F32, but it has I32.',
    );
    const half = replaceHeader(bytes, (header) => {
      header['stem/bias'].dtype = 'F16';
    });
    expect(read(half)).toThrow('tensor "stem/bias" (F16 [8]) must take 16 bytes, but its data_offsets');
    const unknown = replaceHeader(bytes, (header) => {
      header['stem/bias'].dtype = 'FLOAT';
    });
    expect(read(unknown)).toThrow('tensor "stem/bias" has dtype "FLOAT", but a safetensors dtype must be one of BOOL, U8');
  });

  test('wrong shape', () => {
    const corrupt = replaceHeader(bytes, (header) => {
      header['head/weight'].shape = [16, 12];
    });
    expect(read(corrupt)).toThrow('tensor head/weight must have shape [12, 16], but it has [16, 12]');
  });

  test('missing tensor', () => {
    const corrupt = rebuild(bytes, (file) => {
      file.tensors = file.tensors.filter((tensor) => tensor.name !== 'blocks/0/se/expand/bias');
    });
    expect(read(corrupt)).toThrow(
      'Invalid efficientnet-wasm model file model.safetensors: the graph configuration needs tensor blocks/0/se/expand/bias ' +
        '(F32 [16]), but the file does not have it (1 missing: blocks/0/se/expand/bias).',
    );
  });

  test('extra tensor', () => {
    const corrupt = rebuild(bytes, (file) => {
      file.tensors.push({ name: 'head/bias', dtype: 'F32', shape: [16], data: new Uint8Array(64) });
    });
    expect(read(corrupt)).toThrow('tensor head/bias is not part of the graph configuration (1 unexpected: head/bias)');
  });

  test('newer format version', () => {
    const newer = rebuild(bytes, (file) => {
      file.metadata!.format_version = '2';
    });
    expect(read(newer)).toThrow(
      'Unsupported model file model.safetensors: it has format version 2, but this version of efficientnet-wasm reads ' +
        'format version 1 and older. Update efficientnet-wasm, or convert the original model with this version.',
    );
    const invalid = rebuild(bytes, (file) => {
      file.metadata!.format_version = 'one';
    });
    expect(read(invalid)).toThrow('__metadata__ format_version must be a positive integer, but got "one"');
  });

  test('foreign safetensors file', () => {
    const tensor = { name: 'model.embed.weight', dtype: 'F16', shape: [2, 2], data: new Uint8Array(8) };
    const withMetadata = writeFile({ format: 'pt' }, [tensor]);
    expect(isModelFile(withMetadata)).toBe(true);
    expect(read(withMetadata)).toThrow(
      'Unsupported model file model.safetensors: it is a safetensors file with 1 tensors and "format": "pt" in its ' +
        '__metadata__, not a model file written by effnet convert ("format": "efficientnet-wasm"). Only safetensors ' +
        'files written by effnet convert are supported for now',
    );
    expect(read(writeFile(undefined, [tensor]))).toThrow('with 1 tensors and no "format" entry in its __metadata__');
  });

  test('invalid graph configuration field', () => {
    const corrupt = rebuild(bytes, (file) => {
      const graph = JSON.parse(file.metadata!.graph);
      graph.blocks[1].depthwise.kernel = 'five';
      file.metadata!.graph = JSON.stringify(graph);
    });
    expect(read(corrupt)).toThrow(
      'Invalid efficientnet-wasm model file model.safetensors: graph configuration field blocks[1].depthwise.kernel ' +
        'must be a positive integer, but got "five". The file is corrupt or was edited; convert the model again.',
    );
    const unknownField = rebuild(bytes, (file) => {
      const graph = JSON.parse(file.metadata!.graph);
      graph.stem.groups = 2;
      file.metadata!.graph = JSON.stringify(graph);
    });
    expect(read(unknownField)).toThrow('graph configuration field stem.groups is not part of format version 1');
  });

  test('invalid description fields', () => {
    const cases: [string, string | undefined, string][] = [
      ['labels', '["a"]', '__metadata__ labels must have one label per class (5), but it has 1'],
      ['labels', '{', '__metadata__ labels is not valid JSON'],
      ['normalization', '{"mean":[0,0,0],"std":[1,0,1]}', '__metadata__ normalization must be { "mean": [r, g, b], "std": [r, g, b] }'],
      ['quantized', 'yes', '__metadata__ quantized must be "true" or "false", but got "yes"'],
      ['input_space', 'rgb', '__metadata__ input_space must be "pixels" or "normalized", but got "rgb"'],
      ['output_grid', '{"scale":0,"zeroPoint":0,"qmin":0,"qmax":255}', '__metadata__ output_grid.scale must be positive, but got 0'],
      ['graph', undefined, '__metadata__ has no "graph" entry'],
    ];
    for (const [key, value, message] of cases) {
      const corrupt = rebuild(bytes, (file) => {
        if (value === undefined) delete file.metadata![key];
        else file.metadata![key] = value;
      });
      expect(read(corrupt), key).toThrow(message);
    }
  });

  test('metadata values must be strings', () => {
    const corrupt = replaceHeader(bytes, (header) => {
      header.__metadata__.quantized = false;
    });
    expect(read(corrupt)).toThrow('"__metadata__" values must be strings, but "quantized" is false.');
  });

  test('serializer rejects a weight of the wrong size', () => {
    const graph = customGraph(1);
    graph.head!.weight = new Float32Array(3);
    expect(() => serializeModel(builtin('broken', graph))).toThrow(
      'Cannot serialize model broken: tensor head/weight has 3 values, but its layer needs [12, 16] = 192.',
    );
  });

  test('serializer rejects an unknown graph field', () => {
    const graph = customGraph(1) as Graph & { stem: { groups?: number } };
    graph.stem.groups = 2;
    expect(() => serializeModel(builtin('extended', graph))).toThrow('stem has a field "groups" that the efficientnet-wasm model file does not store');
  });
});

describe.skipIf(!fixturesPresent)('model file round trip on the TFLite fixtures', () => {
  const directory = mkdtempSync(path.join(tmpdir(), 'effnet-model-file-'));
  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  for (const [label, file, inputs] of [
    ['flowers', FLOWER_MODEL, ['sunflower', 'cat']],
    ['mobilenet', MOBILENET_MODEL, ['hot_dog', 'coffee']],
  ] as const) {
    test(`${label} predicts identically`, async () => {
      const original = await importModel(new Uint8Array(readFileSync(file)), file);
      const bytes = serializeModel(original);
      const reloaded = await importModel(bytes, `${label}.safetensors`);
      expectSameDescription(reloaded, original);
      for (const input of inputs) {
        const pixels = Float32Array.from(readInput(`inputs/${input}.224x224x3.u8.bin`));
        await expectSameModel(original, reloaded, pixels);
      }
    });

    test(`${label} load time`, async () => {
      const converted = path.join(directory, `${label}.safetensors`);
      writeFileSync(converted, serializeModel(await importModel(new Uint8Array(readFileSync(file)), file)));
      const median = async (run: () => Promise<unknown>) => {
        const times: number[] = [];
        for (let i = 0; i < 5; i++) {
          const start = performance.now();
          const result = await run();
          times.push(performance.now() - start);
          if (result && typeof (result as Model).dispose === 'function') (result as Model).dispose();
        }
        return times.sort((a, b) => a - b)[2];
      };
      const importOriginal = await median(() => importModel(new Uint8Array(readFileSync(file)), file));
      const importConverted = await median(() => importModel(new Uint8Array(readFileSync(converted)), converted));
      const loadOriginal = await median(() => loadModel(file, { wasmPath: 'simd' }));
      const loadConverted = await median(() => loadModel(converted, { wasmPath: 'simd' }));
      const size = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`;
      console.log(
        `${label}: read + import ${importOriginal.toFixed(1)} ms (.tflite, ${size(readFileSync(file).length)}) vs ` +
          `${importConverted.toFixed(1)} ms (.safetensors, ${size(readFileSync(converted).length)}); ` +
          `loadModel ${loadOriginal.toFixed(1)} ms vs ${loadConverted.toFixed(1)} ms (median of 5, simd build)`,
      );
      expect(importConverted).toBeGreaterThan(0);
    });
  }
});

if (!fixturesPresent) console.warn(`Model file round trips on the TFLite fixtures ${FIXTURES_MISSING}`);
