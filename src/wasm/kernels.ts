/**
 * The exports of the kernel module (assembly/index.ts), bound once per instance.
 *
 * Pointers are byte offsets into the module's linear memory and must be 16-byte
 * aligned; sizes are element counts. A pointer of 0 means "absent" for the
 * optional arguments (bias, residual, inputScale). Tensors are NHWC float32 with
 * batch 1. Activation codes are ACTIVATION_CODES in src/graph/spec.ts.
 *
 * Over-read contract: a kernel may read up to OVERREAD_BYTES past the end of an
 * input buffer but never writes outside its output, so every buffer handed to a
 * kernel is allocated with that much slack.
 */
export const OVERREAD_BYTES = 64;

/** Output columns per packed weight panel of the GEMM (PANEL_COLUMNS in assembly/f32-gemm/pack.ts). */
export const GEMM_PANEL_COLUMNS = 8;

/**
 * Names of every export of the kernel module. A precompiled module passed to
 * loadModel as wasmModule must export all of them, which rejects a file from a
 * package version whose kernels differ.
 */
export const KERNEL_EXPORT_NAMES: readonly (keyof KernelExports)[] = [
  'memory', 'heapBase', 'simdBuild', 'relaxedSimdBuild', 'conv2d_f32', 'dwconv2d_f32', 'gemm_packed_size', 'gemm_pack_f32',
  'gemm_f32', 'gemm_panels_f32', 'activation_f32', 'quantize_grid_f32', 'requantize_f32', 'add_requantize_f32',
  'repeat_channels_f32', 'add_f32', 'scale_channels_f32', 'global_avg_pool_f32', 'global_avg_pool_channels_f32',
  'global_max_pool_f32', 'softmax_f32',
];

/**
 * The kernels that the graph executor calls, in a fixed order: a worker thread
 * receives a call as an index into this list and its arguments.
 */
export const KERNEL_CALL_NAMES = [
  'conv2d_f32', 'dwconv2d_f32', 'gemm_f32', 'gemm_panels_f32', 'activation_f32', 'quantize_grid_f32', 'requantize_f32',
  'add_requantize_f32', 'repeat_channels_f32', 'add_f32', 'scale_channels_f32', 'global_avg_pool_f32',
  'global_avg_pool_channels_f32', 'global_max_pool_f32', 'softmax_f32',
] as const satisfies readonly (keyof KernelExports)[];

/** A kernel that the executor calls. */
export type KernelName = (typeof KERNEL_CALL_NAMES)[number];

export interface KernelExports {
  readonly memory: WebAssembly.Memory;
  /** First byte after the module's static data. */
  heapBase(): number;
  /** 1 when the module was compiled with 128-bit SIMD. */
  simdBuild(): number;
  /** 1 in the build that fuses multiply-adds with relaxed SIMD, else 0. */
  relaxedSimdBuild(): number;

  /**
   * Regular convolution, [1, inH, inW, inC] * [kernel, kernel, inC, outC] -> [1, outH, outW, outC].
   * Input pixels outside the image (padTop/padLeft before, whatever outH/outW imply after) are zero.
   */
  conv2d_f32(
    input: number, inH: number, inW: number, inC: number,
    weight: number, bias: number,
    output: number, outH: number, outW: number, outC: number,
    kernel: number, stride: number, padTop: number, padLeft: number, activation: number,
  ): void;

  /** Depthwise convolution, [1, inH, inW, C] * [kernel, kernel, C] -> [1, outH, outW, C]. */
  dwconv2d_f32(
    input: number, inH: number, inW: number, channels: number,
    weight: number, bias: number,
    output: number, outH: number, outW: number,
    kernel: number, stride: number, padTop: number, padLeft: number, activation: number,
  ): void;

  /** Float count of the packed form of a [K, N] weight matrix. */
  gemm_packed_size(k: number, n: number): number;
  /** Packs a row-major [K, N] weight matrix for gemm_f32. */
  gemm_pack_f32(source: number, k: number, n: number, packed: number): void;
  /**
   * output[M, N] = act((a[M, K] * inputScale[K]) x B[K, N] + bias[N]) + residual[M, N].
   * inputScale scales column k of a (the squeeze-excite gate); residual is added after the activation.
   */
  gemm_f32(
    a: number, m: number, k: number, packed: number, n: number,
    bias: number, output: number, activation: number, residual: number, inputScale: number,
  ): void;

  /**
   * gemm_f32 for the output columns of packed panels [panelStart, panelEnd) only,
   * each GEMM_PANEL_COLUMNS wide; the other columns of output are left untouched.
   */
  gemm_panels_f32(
    a: number, m: number, k: number, packed: number, n: number,
    bias: number, output: number, activation: number, residual: number, inputScale: number,
    panelStart: number, panelEnd: number,
  ): void;

  /** Applies an activation in place to count floats. */
  activation_f32(data: number, count: number, activation: number): void;
  /** Rounds count floats in place onto a quantization grid (round half away from zero, then clamp). */
  quantize_grid_f32(data: number, count: number, scale: number, zeroPoint: number, qmin: number, qmax: number): void;
  /**
   * Requantizes a [pixels, channels] map of integer accumulators in place to
   * clamp(nearest(x * multipliers[c]), low, high), rounding ties to even.
   * With perChannel 0, multipliers contains one value for all channels.
   */
  requantize_f32(data: number, pixels: number, channels: number, multipliers: number, perChannel: number, low: number, high: number): void;
  /** output = clamp(nearest(a * aScale + b * bScale), low, high), count floats (a quantized ADD). */
  add_requantize_f32(a: number, aScale: number, b: number, bScale: number, output: number, count: number, low: number, high: number): void;
  /** output[p, c * repeats + r] = input[p, c] over pixels x channels (depth multiplier above 1). */
  repeat_channels_f32(input: number, pixels: number, channels: number, repeats: number, output: number): void;
  /** output = a + b, count floats. */
  add_f32(a: number, b: number, output: number, count: number): void;
  /** output[p, c] = input[p, c] * scale[c] over pixels x channels. */
  scale_channels_f32(input: number, pixels: number, channels: number, scale: number, output: number): void;
  /** output[c] = mean over pixels of input[p, c]. */
  global_avg_pool_f32(input: number, pixels: number, channels: number, output: number): void;
  /** global_avg_pool_f32 for channels [channelStart, channelEnd) only; channelStart is a multiple of 4. */
  global_avg_pool_channels_f32(
    input: number, pixels: number, channels: number, output: number, channelStart: number, channelEnd: number,
  ): void;
  /** output[c] = max over pixels of input[p, c]. */
  global_max_pool_f32(input: number, pixels: number, channels: number, output: number): void;
  /** Softmax in place over count floats. */
  softmax_f32(data: number, count: number): void;
}
