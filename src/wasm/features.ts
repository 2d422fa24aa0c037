/**
 * WebAssembly feature probes. Each validates a tiny module and returns a
 * boolean; none of them throws, whatever the runtime.
 */

/**
 * (module (func (result v128) (f32x4.splat (f32.const 0))))
 */
const SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // type section: () -> v128
  0x03, 0x02, 0x01, 0x00, // function section: one function of type 0
  0x0a, 0x0b, 0x01, 0x09, 0x00, // code section: one body of 9 bytes, no locals
  0x43, 0x00, 0x00, 0x00, 0x00, // f32.const 0
  0xfd, 0x13, // f32x4.splat
  0x0b, // end
]);

/**
 * (module (func (result v128)
 *   (f32x4.relaxed_madd (f32x4.splat (f32.const 0)) (f32x4.splat (f32.const 0)) (f32x4.splat (f32.const 0)))))
 */
const RELAXED_SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // type section: () -> v128
  0x03, 0x02, 0x01, 0x00, // function section: one function of type 0
  0x0a, 0x1c, 0x01, 0x1a, 0x00, // code section: one body of 26 bytes, no locals
  0x43, 0x00, 0x00, 0x00, 0x00, 0xfd, 0x13, // f32.const 0, f32x4.splat
  0x43, 0x00, 0x00, 0x00, 0x00, 0xfd, 0x13,
  0x43, 0x00, 0x00, 0x00, 0x00, 0xfd, 0x13,
  0xfd, 0x85, 0x02, // f32x4.relaxed_madd (0xfd 0x105)
  0x0b, // end
]);

/** Returns true when this runtime has WebAssembly at all. */
export function hasWebAssembly(): boolean {
  try {
    return typeof WebAssembly === 'object' && typeof WebAssembly.validate === 'function';
  } catch {
    return false;
  }
}

/**
 * Returns true when this runtime validates relaxed SIMD's f32x4.relaxed_madd
 * (Node 20 validates it only when started with --experimental-wasm-relaxed-simd).
 */
export function hasWasmRelaxedSimd(): boolean {
  try {
    return hasWebAssembly() && WebAssembly.validate(RELAXED_SIMD_PROBE);
  } catch {
    return false;
  }
}

/** Returns true when this runtime validates 128-bit SIMD instructions. */
export function hasWasmSimd(): boolean {
  try {
    return hasWebAssembly() && WebAssembly.validate(SIMD_PROBE);
  } catch {
    return false;
  }
}
