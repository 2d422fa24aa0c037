import {
  RELAXED_SIMD_THREADS_WASM_BASE64,
  RELAXED_SIMD_WASM_BASE64,
  SCALAR_WASM_BASE64,
  SIMD_THREADS_WASM_BASE64,
  SIMD_WASM_BASE64,
} from './binaries.generated.js';
import { hasWasmRelaxedSimd, hasWasmSimd, hasWebAssembly } from './features.js';
import { KERNEL_EXPORT_NAMES, OVERREAD_BYTES, type KernelExports } from './kernels.js';
import { reservePool, ThreadStartError, threadsUnavailableReason, type AttachedInstance, type PoolReservation } from './threads.js';

/**
 * Kernel build: 128-bit SIMD with fused multiply-adds from relaxed SIMD,
 * 128-bit SIMD, or scalar.
 */
export type WasmPath = 'relaxed-simd' | 'simd' | 'scalar';

/** Runtime support for wasm features, and the kernel build picked by default. */
export interface WasmSupport {
  webAssembly: boolean;
  simd: boolean;
  /** True when the runtime validates relaxed SIMD's f32x4.relaxed_madd. */
  relaxedSimd: boolean;
  /** The build that 'auto' selects: the fastest one the runtime validates. */
  path: WasmPath;
  /**
   * True when models can run on several threads here: SharedArrayBuffer, shared
   * wasm memory and workers are available (in a browser, only on a
   * cross-origin isolated page).
   */
  threads: boolean;
}

const PAGE_BYTES = 65536;
const ALIGN_BYTES = 16;

/** Reports the runtime's wasm support and the kernel build chosen by default. The probes catch every error. */
export function wasmSupport(): WasmSupport {
  const simd = hasWasmSimd();
  const relaxedSimd = simd && hasWasmRelaxedSimd();
  // The relaxed-SIMD build ran B0 1.23x faster than the SIMD build (BENCHMARKS.md), so 'auto' takes it where it validates.
  let path: WasmPath = 'scalar';
  if (relaxedSimd) path = 'relaxed-simd';
  else if (simd) path = 'simd';
  return { webAssembly: hasWebAssembly(), simd, relaxedSimd, path, threads: simd && threadsUnavailableReason() === null };
}

/** Resolves 'auto' to a build, and rejects a forced SIMD build the runtime cannot run. */
export function resolveWasmPath(requested: WasmPath | 'auto' = 'auto'): WasmPath {
  const support = wasmSupport();
  if (!support.webAssembly) {
    throw new Error(
      'WebAssembly is not available in this runtime: efficientnet-wasm needs it to run models. ' +
        'Use a runtime with WebAssembly enabled (Node.js 20+, a current browser, Deno, Bun or workerd).',
    );
  }
  if (requested === 'auto') return support.path;
  if (requested === 'simd' && !support.simd) {
    throw new Error(
      "The 'simd' kernel build was requested, but this runtime does not support WebAssembly SIMD. " +
        "Use wasmPath: 'auto' or 'scalar'.",
    );
  }
  if (requested === 'relaxed-simd' && !support.relaxedSimd) {
    throw new Error(
      "The 'relaxed-simd' kernel build was requested, but this runtime does not support WebAssembly relaxed SIMD " +
        "(Node 20 validates it only when started as node --experimental-wasm-relaxed-simd, a flag that NODE_OPTIONS " +
        "does not accept; Node 22 validates it by default). Use wasmPath: 'auto' or 'simd' (CLI: --wasm auto or simd).",
    );
  }
  if (requested !== 'relaxed-simd' && requested !== 'simd' && requested !== 'scalar') {
    throw new Error(
      `Invalid wasmPath: expected 'auto', 'relaxed-simd', 'simd' or 'scalar', but got ${JSON.stringify(requested)}.`,
    );
  }
  return requested;
}

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** An embedded kernel build: an instruction set, alone or with shared memory for threads. */
type EmbeddedBuild = WasmPath | 'simd-threads' | 'relaxed-simd-threads';

/** The base64 text of each embedded kernel build. */
const EMBEDDED_BUILDS: Readonly<Record<EmbeddedBuild, string>> = {
  'relaxed-simd': RELAXED_SIMD_WASM_BASE64,
  simd: SIMD_WASM_BASE64,
  scalar: SCALAR_WASM_BASE64,
  'relaxed-simd-threads': RELAXED_SIMD_THREADS_WASM_BASE64,
  'simd-threads': SIMD_THREADS_WASM_BASE64,
};

/**
 * Largest shared memory the thread builds take, in 64 KiB pages (4 GiB, the
 * wasm32 limit). A shared memory reserves its maximum up front, so runtimes
 * that cannot reserve it get the smaller sizes that follow.
 */
const SHARED_MEMORY_PAGES = [65536, 16384, 4096];

const compiled = new Map<EmbeddedBuild, Promise<WebAssembly.Module>>();

/** Modules whose hot kernels have run once (see KernelInstance.warmUpOnce). */
const warmedModules = new WeakSet<WebAssembly.Module>();
/** Calls per kernel in the warm-up: 12 calls of these 12x12x32 problems got the hot kernels optimized in Node 20 (V8 11.3). */
const WARM_UP_ROUNDS = 12;
/** Activation code of swish (ACTIVATION_CODES in src/graph/spec.ts), the path EfficientNet runs most. */
const SWISH = 3;

/** Compiles a kernel build once per process; later calls share the module. */
export function compileKernels(path: EmbeddedBuild): Promise<WebAssembly.Module> {
  let module = compiled.get(path);
  if (!module) {
    const bytes = decodeBase64(EMBEDDED_BUILDS[path]);
    module = WebAssembly.compile(bytes).catch((error: unknown) => {
      compiled.delete(path);
      // Cloudflare Workers and workerd reject this with "Wasm code generation disallowed by embedder".
      throw new Error(
        `Failed to compile the embedded ${path} wasm kernels: ${(error as Error).message}. ` +
          'Runtimes that forbid compiling wasm at run time (Cloudflare Workers, workerd) need the precompiled ' +
          `module: import kernels from 'efficientnet-wasm/kernels-${path}.wasm' and pass loadModel(source, { wasmModule: kernels }).`,
        { cause: error },
      );
    });
    compiled.set(path, module);
  }
  return module;
}

/** Rejects a wasmModule option that is not a WebAssembly.Module with every kernel export. */
function checkKernelModule(module: unknown): asserts module is WebAssembly.Module {
  if (!(module instanceof WebAssembly.Module)) {
    let actual: string = typeof module;
    if (module === null) actual = 'null';
    else if (typeof module === 'object') actual = module.constructor?.name ?? 'an object';
    throw new TypeError(
      `Invalid wasmModule: expected a WebAssembly.Module (the default import of 'efficientnet-wasm/kernels-relaxed-simd.wasm', ` +
        `'kernels-simd.wasm' or 'kernels-scalar.wasm' in a Worker), but got ${actual}.`,
    );
  }
  const names = new Set(WebAssembly.Module.exports(module).map((entry) => entry.name));
  const missing = KERNEL_EXPORT_NAMES.filter((name) => !names.has(name));
  if (missing.length > 0) {
    throw new Error(
      `Invalid wasmModule: it lacks the kernel exports ${missing.join(', ')}, so it is not the kernel module of ` +
        'this version of efficientnet-wasm. Import kernels-relaxed-simd.wasm, kernels-simd.wasm or kernels-scalar.wasm ' +
          'from the same package install.',
    );
  }
}

/** Reads an AssemblyScript string (UTF-16, byte length stored just before it). */
function readAsString(memory: WebAssembly.Memory, pointer: number): string {
  if (!pointer) return '';
  const view = new DataView(memory.buffer);
  const byteLength = view.getUint32(pointer - 4, true);
  return String.fromCharCode(...new Uint16Array(memory.buffer, pointer, byteLength >>> 1));
}

/**
 * One instance of the kernel module with its own linear memory, and a bump
 * allocator over that memory. Each loaded model owns one instance, so
 * disposing a model releases all of its memory at once.
 */
export class KernelInstance {
  readonly path: WasmPath;
  readonly exports: KernelExports;
  private pool: AttachedInstance | null = null;
  private top: number;
  private f32View: Float32Array;
  private u8View: Uint8Array;

  private constructor(path: WasmPath, exports: KernelExports) {
    this.path = path;
    this.exports = exports;
    this.top = align(exports.heapBase(), ALIGN_BYTES);
    this.f32View = new Float32Array(exports.memory.buffer);
    this.u8View = new Uint8Array(exports.memory.buffer);
  }

  /**
   * Instantiates a kernel build ('auto' picks the fastest build the runtime validates).
   * A precompiled module is used in place of compiling the embedded build, and its
   * build (read from its simdBuild and relaxedSimdBuild exports) must match a
   * requested wasmPath.
   * With threads above 1, the shared-memory build of the same instruction set runs
   * on the process's thread pool (the caller checks that threads are available).
   */
  static async create(requested: WasmPath | 'auto' = 'auto', precompiled?: WebAssembly.Module, threads = 1): Promise<KernelInstance> {
    if (threads <= 1) return KernelInstance.build(requested, precompiled, null);
    const reservation = reservePool(threads);
    try {
      return await KernelInstance.build(requested, precompiled, reservation);
    } catch (error) {
      reservation.cancel();
      throw error;
    }
  }

  private static async build(
    requested: WasmPath | 'auto',
    precompiled: WebAssembly.Module | undefined,
    reservation: PoolReservation | null,
  ): Promise<KernelInstance> {
    const threaded = reservation !== null;
    let module: WebAssembly.Module;
    let path: WasmPath;
    if (precompiled === undefined) {
      path = resolveWasmPath(requested);
      if (threaded && path === 'scalar') {
        throw new Error("Invalid numThreads: the scalar kernel build runs on one thread. Pass numThreads: 1, or a SIMD wasmPath.");
      }
      module = await compileKernels(threaded ? (`${path}-threads` as EmbeddedBuild) : path);
    } else {
      checkKernelModule(precompiled);
      module = precompiled;
    }
    const shared = importsMemory(module);
    if (threaded && !shared) {
      throw new Error(
        'Invalid numThreads: the wasmModule given is a single-threaded kernel build. Pass numThreads: 1, ' +
          "or the module of a thread build (kernels-simd-threads.wasm or kernels-relaxed-simd-threads.wasm).",
      );
    }
    const memory = shared ? createSharedMemory() : undefined;
    const exports = await instantiateKernels(module, memory);
    const built: WasmPath = exports.relaxedSimdBuild() === 1 ? 'relaxed-simd' : exports.simdBuild() === 1 ? 'simd' : 'scalar';
    if (precompiled !== undefined && requested !== 'auto' && resolveWasmPath(requested) !== built) {
      throw new Error(
        `Invalid wasmModule: it is the '${built}' kernel build, but wasmPath '${requested}' was requested. ` +
          `Pass kernels-${requested}.wasm, or leave wasmPath out.`,
      );
    }
    path = built;
    const instance = new KernelInstance(path, exports);
    instance.warmUpOnce(module);
    if (reservation) instance.pool = await reservation.attach(module, memory!);
    return instance;
  }

  /** Threads that run this instance's kernels, the calling thread included. */
  get threads(): number {
    return this.pool?.threads ?? 1;
  }

  /** The instance's place in the thread pool, or null when it runs on the calling thread only. */
  get threadPool(): AttachedInstance | null {
    return this.pool;
  }

  /** Detaches the instance from the thread pool (the pool stops when no instance is left). */
  dispose(): void {
    this.pool?.detach();
    this.pool = null;
  }

  /**
   * Runs the hot kernels on small scratch problems once per compiled module.
   * V8 first compiles wasm with its baseline compiler and recompiles a function
   * with its optimizing compiler, in the background, after the function has
   * executed about 1.8 MB of code (--wasm-tiering-budget). Without this, the
   * first inference spends its early layers in baseline code. With it, the
   * optimized code is compiled while the model's weights load.
   */
  private warmUpOnce(module: WebAssembly.Module): void {
    if (warmedModules.has(module)) return;
    warmedModules.add(module);
    const mark = this.mark();
    try {
      const e = this.exports;
      const side = 12;
      const channels = 32;
      const floats = side * side * channels;
      const input = this.allocF32(floats);
      const output = this.allocF32(floats);
      const weight = this.allocF32(Math.max(25 * channels, channels * channels, 9 * 3 * channels));
      const packed = this.allocF32(e.gemm_packed_size(channels, channels));
      const bias = this.allocF32(channels);
      // Fresh memory is zero-filled, and every kernel accepts zeros.
      e.gemm_pack_f32(weight, channels, channels, packed);
      for (let round = 0; round < WARM_UP_ROUNDS; round++) {
        e.gemm_f32(input, side * side, channels, packed, channels, bias, output, SWISH, 0, 0);
        e.dwconv2d_f32(input, side, side, channels, weight, bias, output, side, side, 3, 1, 1, 1, SWISH);
        e.dwconv2d_f32(input, side, side, channels, weight, bias, output, side / 2, side / 2, 5, 2, 1, 1, SWISH);
        e.conv2d_f32(input, side, side, 3, weight, bias, output, side / 2, side / 2, channels, 3, 2, 0, 0, SWISH);
        e.global_avg_pool_f32(input, side * side, channels, output);
      }
    } finally {
      this.release(mark);
    }
  }

  /** Bytes of linear memory in use by allocations. */
  get usedBytes(): number {
    return this.top;
  }

  /**
   * Reserves bytes (16-byte aligned, followed by the kernels' over-read slack)
   * and returns the byte offset. Memory is never freed, only dropped with the instance.
   */
  alloc(bytes: number): number {
    const pointer = this.top;
    this.top = align(pointer + bytes + OVERREAD_BYTES, ALIGN_BYTES);
    const memory = this.exports.memory;
    if (this.top > memory.buffer.byteLength) {
      const pages = Math.ceil((this.top - memory.buffer.byteLength) / PAGE_BYTES);
      try {
        memory.grow(pages);
      } catch (error) {
        throw new Error(
          `Failed to grow wasm memory to ${this.top} bytes (${pages} more pages of 64 KiB): ${(error as Error).message}. ` +
            'The model or input size needs more memory than this runtime allows.',
        );
      }
    }
    return pointer;
  }

  /** Returns the current top of the allocator, for a later release(). */
  mark(): number {
    return this.top;
  }

  /** Frees everything allocated after mark() returned the given value (stack order). */
  release(mark: number): void {
    if (mark > this.top || mark < align(this.exports.heapBase(), ALIGN_BYTES)) {
      throw new Error(`Invalid release: mark ${mark} is outside the allocated range.`);
    }
    this.top = mark;
  }

  /** Allocates room for count floats and returns the byte offset. */
  allocF32(count: number): number {
    return this.alloc(count * 4);
  }

  /** A Float32Array over the whole memory, renewed after the memory grows. */
  get f32(): Float32Array {
    if (this.f32View.buffer !== this.exports.memory.buffer) this.refreshViews();
    return this.f32View;
  }

  /** A Uint8Array over the whole memory, renewed after the memory grows. */
  get u8(): Uint8Array {
    if (this.u8View.buffer !== this.exports.memory.buffer) this.refreshViews();
    return this.u8View;
  }

  /** Copies floats into memory at a byte offset. */
  writeF32(pointer: number, values: ArrayLike<number>): void {
    this.f32.set(values, pointer >>> 2);
  }

  /** Copies count floats out of memory at a byte offset. */
  readF32(pointer: number, count: number): Float32Array {
    return this.f32.slice(pointer >>> 2, (pointer >>> 2) + count);
  }

  private refreshViews(): void {
    this.f32View = new Float32Array(this.exports.memory.buffer);
    this.u8View = new Uint8Array(this.exports.memory.buffer);
  }
}

/** Returns true for a thread build, whose memory is imported (shared) rather than its own; false for anything else. */
export function importsMemory(module: unknown): boolean {
  return module instanceof WebAssembly.Module && WebAssembly.Module.imports(module).some((entry) => entry.kind === 'memory');
}

/** Creates the shared memory of a thread build, with the largest maximum the runtime can reserve. */
function createSharedMemory(): WebAssembly.Memory {
  let failure: unknown;
  for (const maximum of SHARED_MEMORY_PAGES) {
    try {
      return new WebAssembly.Memory({ initial: 1, maximum, shared: true });
    } catch (error) {
      failure = error;
    }
  }
  throw new ThreadStartError(
    `Failed to create shared wasm memory for threads: ${(failure as Error).message}. Pass numThreads: 1 to run without threads.`,
    { cause: failure },
  );
}

/**
 * Instantiates a compiled kernel module, supplying the `env.abort` import that
 * AssemblyScript modules may declare, and the shared memory of a thread build.
 */
async function instantiateKernels(module: WebAssembly.Module, sharedMemory?: WebAssembly.Memory): Promise<KernelExports> {
  let memory: WebAssembly.Memory | undefined;
  const imports = {
    env: {
      ...(sharedMemory ? { memory: sharedMemory } : {}),
      abort(message: number, file: number, line: number, column: number): never {
        const text = memory ? `${readAsString(memory, message)} at ${readAsString(memory, file)}:${line}:${column}` : '';
        throw new Error(`A wasm kernel aborted: ${text}`);
      },
    },
  };
  const instance = await WebAssembly.instantiate(module, imports);
  const exports = instance.exports as unknown as KernelExports;
  memory = exports.memory;
  return exports;
}

function align(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}
