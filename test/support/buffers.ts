import { compileKernels, KernelInstance, wasmSupport, type WasmPath } from '../../src/wasm/instantiate.js';
import { OVERREAD_BYTES } from '../../src/wasm/kernels.js';

/** A kernel build as the tests run it: an instruction set, alone or in its shared-memory build for threads. */
export type TestBuild = WasmPath | 'simd-threads' | 'relaxed-simd-threads';

/**
 * The kernel builds every kernel test runs on. The relaxed-SIMD builds join
 * when the runtime supports them: vitest.config.ts starts the test workers
 * with --experimental-wasm-relaxed-simd, which Node 20 needs for them. The
 * thread builds join where threads can run.
 */
export const BUILDS: readonly TestBuild[] = [
  'simd',
  'scalar',
  ...(wasmSupport().relaxedSimd ? (['relaxed-simd'] as const) : []),
  ...(wasmSupport().threads ? (['simd-threads'] as const) : []),
  ...(wasmSupport().threads && wasmSupport().relaxedSimd ? (['relaxed-simd-threads'] as const) : []),
];

/** Threads of a model on a thread build: 3, so the chunks of a layer do not divide evenly between threads. */
export const TEST_THREADS = 3;

/** Returns the instruction set of a test build, as info.wasmPath reports it. */
export function buildPath(build: TestBuild): WasmPath {
  return build.replace(/-threads$/, '') as WasmPath;
}

/** loadModel options that run a model on a test build: one thread, or TEST_THREADS on a thread build. */
export function buildOptions(build: TestBuild): { wasmPath: WasmPath; numThreads: number } {
  return { wasmPath: buildPath(build), numThreads: build.endsWith('-threads') ? TEST_THREADS : 1 };
}

/**
 * Guard pattern written into the OVERREAD_BYTES after every buffer: the bytes of
 * the quiet NaN 0x7FC0A5A5. A kernel that writes past a buffer changes them, and
 * a kernel that lets an over-read lane leak into a result produces NaN.
 */
const GUARD_BYTES = [0xa5, 0xa5, 0xc0, 0x7f];

/** A float buffer in kernel memory, followed by guard bytes. */
export interface GuardedBuffer {
  name: string;
  pointer: number;
  count: number;
  /** The values written at setup, or null for an output. */
  initial: Float32Array | null;
}

/**
 * A kernel instance plus the buffers of one test case. Inputs are written with
 * their values, outputs pre-filled with NaN, and each is followed by guard bytes.
 */
export class Arena {
  readonly buffers: GuardedBuffer[] = [];

  private constructor(readonly kernels: KernelInstance) {}

  /**
   * Creates a fresh instance of one build, so every case starts from empty
   * memory. A thread build runs here on the calling thread, on its shared memory.
   */
  static async create(build: TestBuild): Promise<Arena> {
    if (build === 'simd-threads' || build === 'relaxed-simd-threads') {
      return new Arena(await KernelInstance.create('auto', await compileKernels(build), 1));
    }
    return new Arena(await KernelInstance.create(build));
  }

  get exports() {
    return this.kernels.exports;
  }

  /** Allocates an input buffer holding values. */
  input(name: string, values: ArrayLike<number>): number {
    const initial = Float32Array.from(values);
    const pointer = this.allocate(name, initial.length, initial);
    this.kernels.writeF32(pointer, initial);
    return pointer;
  }

  /** Allocates a buffer that a kernel overwrites in place, holding values at setup. */
  inPlace(name: string, values: ArrayLike<number>): number {
    const pointer = this.allocate(name, values.length, null);
    this.kernels.writeF32(pointer, values);
    return pointer;
  }

  /** Allocates an output buffer of count floats, pre-filled with NaN. */
  output(name: string, count: number): number {
    const pointer = this.allocate(name, count, null);
    this.kernels.f32.fill(Number.NaN, pointer >>> 2, (pointer >>> 2) + count);
    return pointer;
  }

  /** Copies count floats out of kernel memory. */
  read(pointer: number, count: number): Float32Array {
    return this.kernels.readF32(pointer, count);
  }

  /**
   * Returns a description of every damaged guard byte and every changed input
   * value, or an empty list. Input values are compared bit for bit.
   */
  damage(): string[] {
    const problems: string[] = [];
    const bytes = this.kernels.u8;
    const words = new Uint32Array(bytes.buffer);
    for (const buffer of this.buffers) {
      const end = buffer.pointer + buffer.count * 4;
      for (let i = 0; i < OVERREAD_BYTES; i++) {
        const expected = GUARD_BYTES[i % 4];
        if (bytes[end + i] !== expected) {
          problems.push(`${buffer.name}: guard byte ${i} after the buffer is 0x${bytes[end + i].toString(16)}, expected 0x${expected.toString(16)}`);
          break;
        }
      }
      if (buffer.initial) {
        const initialWords = new Uint32Array(buffer.initial.buffer, buffer.initial.byteOffset, buffer.count);
        const base = buffer.pointer >>> 2;
        for (let i = 0; i < buffer.count; i++) {
          if (words[base + i] !== initialWords[i]) {
            problems.push(`${buffer.name}: input element ${i} changed from ${buffer.initial[i]} to ${this.kernels.f32[base + i]}`);
            break;
          }
        }
      }
    }
    return problems;
  }

  private allocate(name: string, count: number, initial: Float32Array | null): number {
    const pointer = this.kernels.allocF32(count);
    const bytes = this.kernels.u8;
    const end = pointer + count * 4;
    for (let i = 0; i < OVERREAD_BYTES; i++) bytes[end + i] = GUARD_BYTES[i % 4];
    this.buffers.push({ name, pointer, count, initial });
    return pointer;
  }
}
