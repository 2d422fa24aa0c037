import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { createModel, efficientNetArchitecture, randomGraph } from '../../src/index.js';
import type { ModelDescription } from '../../src/graph/spec.js';
import {
  RELAXED_SIMD_THREADS_WASM_BASE64,
  RELAXED_SIMD_WASM_BASE64,
  SCALAR_WASM_BASE64,
  SIMD_THREADS_WASM_BASE64,
  SIMD_WASM_BASE64,
} from '../../src/wasm/binaries.generated.js';
import { KERNEL_EXPORT_NAMES } from '../../src/wasm/kernels.js';
import { BUILDS, buildOptions, buildPath } from '../support/buffers.js';
import { REPOSITORY_ROOT } from '../support/fixtures.js';

// The wasmModule option exists for runtimes that forbid compiling wasm from bytes, such as
// workerd. These checks run in Node, where both ways of loading the kernels work, on every
// build that the test workers validate (BUILDS includes relaxed-simd where relaxed SIMD validates).

const SIDE = 33;
const wasmFile = (build: string) => path.join(REPOSITORY_ROOT, 'dist', 'wasm', `kernels-${build}.wasm`);

function tinyModelDescription(): ModelDescription {
  const architecture = efficientNetArchitecture('b0', { numClasses: 10, scaling: { width: 0.25, depth: 0.34, resolution: SIDE } });
  return {
    name: 'tiny-b0',
    format: 'builtin',
    graph: randomGraph(architecture, 21),
    labels: null,
    normalization: { mean: [0, 0, 0], std: [1, 1, 1] },
    quantized: false,
  };
}

function seededInput(count: number): Float32Array {
  const input = new Float32Array(count);
  let state = 12345;
  for (let i = 0; i < count; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    input[i] = (state / 2 ** 32) * 2 - 1;
  }
  return input;
}

describe('wasmModule option', () => {
  const modules: Record<string, WebAssembly.Module> = {};

  beforeAll(async () => {
    for (const build of BUILDS) {
      if (!existsSync(wasmFile(build))) throw new Error(`${wasmFile(build)} is missing: run "npm run build" before this test.`);
    }
    for (const build of BUILDS) modules[build] = await WebAssembly.compile(readFileSync(wasmFile(build)));
  });

  test('dist .wasm files equal embedded builds', () => {
    expect(readFileSync(wasmFile('simd')).equals(Buffer.from(SIMD_WASM_BASE64, 'base64')), 'kernels-simd.wasm').toBe(true);
    expect(readFileSync(wasmFile('scalar')).equals(Buffer.from(SCALAR_WASM_BASE64, 'base64')), 'kernels-scalar.wasm').toBe(true);
    expect(readFileSync(wasmFile('relaxed-simd')).equals(Buffer.from(RELAXED_SIMD_WASM_BASE64, 'base64')), 'kernels-relaxed-simd.wasm').toBe(true);
    expect(readFileSync(wasmFile('simd-threads')).equals(Buffer.from(SIMD_THREADS_WASM_BASE64, 'base64')), 'kernels-simd-threads.wasm').toBe(true);
    expect(
      readFileSync(wasmFile('relaxed-simd-threads')).equals(Buffer.from(RELAXED_SIMD_THREADS_WASM_BASE64, 'base64')),
      'kernels-relaxed-simd-threads.wasm',
    ).toBe(true);
  });

  test.each(BUILDS)('KERNEL_EXPORT_NAMES lists every %s export', (build) => {
    const exported = WebAssembly.Module.exports(modules[build]).map((entry) => entry.name).sort();
    expect(exported).toEqual([...KERNEL_EXPORT_NAMES].sort());
  });

  test.each(BUILDS)('precompiled %s build matches embedded', async (build) => {
    const description = tinyModelDescription();
    const precompiled = await createModel(description, { wasmModule: modules[build] });
    const embedded = await createModel(description, buildOptions(build));
    expect(precompiled.info.wasmPath).toBe(buildPath(build));
    const input = seededInput(SIDE * SIDE * 3);
    const expected = embedded.predict(input);
    const actual = precompiled.predict(input);
    expect(actual.every(Number.isFinite), 'every output is finite').toBe(true);
    expect(Array.from(actual)).toEqual(Array.from(expected));
    precompiled.dispose();
    embedded.dispose();
  });

  test('build must match wasmPath', async () => {
    await expect(createModel(tinyModelDescription(), { wasmModule: modules.simd, wasmPath: 'scalar' })).rejects.toThrow(
      "Invalid wasmModule: it is the 'simd' kernel build, but wasmPath 'scalar' was requested. Pass kernels-scalar.wasm, or leave wasmPath out.",
    );
  });

  // Skipped where the runtime does not validate relaxed SIMD, because it cannot compile that build.
  test.skipIf(!BUILDS.includes('relaxed-simd'))('relaxed build must match wasmPath', async () => {
    await expect(createModel(tinyModelDescription(), { wasmModule: modules['relaxed-simd'], wasmPath: 'simd' })).rejects.toThrow(
      "Invalid wasmModule: it is the 'relaxed-simd' kernel build, but wasmPath 'simd' was requested. Pass kernels-simd.wasm, or leave wasmPath out.",
    );
  });

  test('bytes instead of a module', async () => {
    const bytes = readFileSync(wasmFile('simd'));
    const options = { wasmModule: new Uint8Array(bytes) as unknown as WebAssembly.Module };
    await expect(createModel(tinyModelDescription(), options)).rejects.toThrow(
      "Invalid wasmModule: expected a WebAssembly.Module (the default import of 'efficientnet-wasm/kernels-relaxed-simd.wasm', " +
        "'kernels-simd.wasm' or 'kernels-scalar.wasm' in a Worker), but got Uint8Array.",
    );
  });

  test('module without the kernel exports', async () => {
    // (module (func (export "heapBase") (result i32) (i32.const 0)))
    const foreign = new WebAssembly.Module(
      new Uint8Array([
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
        0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, // type section: () -> i32
        0x03, 0x02, 0x01, 0x00, // function section: one function of type 0
        0x07, 0x0c, 0x01, 0x08, ...Array.from('heapBase', (c) => c.charCodeAt(0)), 0x00, 0x00, // export "heapBase"
        0x0a, 0x06, 0x01, 0x04, 0x00, 0x41, 0x00, 0x0b, // code: i32.const 0
      ]),
    );
    const error = await createModel(tinyModelDescription(), { wasmModule: foreign }).catch((caught: Error) => caught);
    expect(error).toBeInstanceOf(Error);
    const message = (error as Error).message;
    expect(message).toContain('Invalid wasmModule: it lacks the kernel exports memory, simdBuild, relaxedSimdBuild, conv2d_f32');
    expect(message).not.toContain('heapBase,');
    expect(message).toContain('Import kernels-relaxed-simd.wasm, kernels-simd.wasm or kernels-scalar.wasm from the same package install.');
  });
});
