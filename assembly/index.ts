// Entry point of the kernel module. Every export here is listed, with its
// argument order, in KernelExports (src/wasm/kernels.ts).

/** Returns the first byte of linear memory after the module's static data. */
export function heapBase(): usize {
  return __heap_base;
}

/** Returns true when this build was compiled with 128-bit SIMD. */
export function simdBuild(): bool {
  return ASC_FEATURE_SIMD;
}

/** Returns true when this build fuses multiply-adds with relaxed SIMD. */
export function relaxedSimdBuild(): bool {
  return ASC_FEATURE_RELAXED_SIMD;
}

export { conv2d_f32 } from './f32-conv/conv2d-nhwc';
export { dwconv2d_f32 } from './f32-dwconv/dwconv2d-nhwc';
export { gemm_packed_size, gemm_pack_f32 } from './f32-gemm/pack';
export { gemm_f32, gemm_panels_f32 } from './f32-gemm/gemm-4x8';
export { activation_f32 } from './f32-vunary/activation';
export { quantize_grid_f32 } from './f32-vunary/quantize-grid';
export { softmax_f32 } from './f32-vunary/softmax';
export { add_f32 } from './f32-vbinary/add';
export { scale_channels_f32 } from './f32-vbinary/scale-channels';
export { global_avg_pool_f32, global_avg_pool_channels_f32, global_max_pool_f32 } from './f32-gavgpool/global-pool';
export { requantize_f32 } from './f32-vunary/requantize';
export { add_requantize_f32 } from './f32-vbinary/add-requantize';
export { repeat_channels_f32 } from './f32-vunary/repeat-channels';
