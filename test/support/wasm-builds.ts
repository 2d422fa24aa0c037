/**
 * Which kernel build a runtime should pick, and how Node is started to
 * validate relaxed SIMD. Tests derive their expected build from these, so
 * they hold in every runtime and Node version.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPOSITORY_ROOT } from './fixtures.js';

/**
 * The V8 flag with which Node 20 (V8 11.3) validates relaxed SIMD. Node 22
 * (V8 12.4) validates relaxed SIMD by default and rejects the flag as a bad option.
 */
export const RELAXED_SIMD_FLAG = '--experimental-wasm-relaxed-simd';

interface Support {
  simd: boolean;
  relaxedSimd: boolean;
}

/** Returns the build that wasmPath 'auto' must resolve to for a wasmSupport() report. */
export function defaultBuildFor(support: Support): 'relaxed-simd' | 'simd' | 'scalar' {
  if (support.relaxedSimd) return 'relaxed-simd';
  return support.simd ? 'simd' : 'scalar';
}

let relaxedSimdFlags: string[] | undefined;

/**
 * Returns the Node options that make this Node validate relaxed SIMD:
 * [RELAXED_SIMD_FLAG] where its V8 still lists the flag, else [] (relaxed SIMD
 * is on by default there, and the flag would stop Node from starting).
 */
export function relaxedSimdNodeFlags(): string[] {
  if (!relaxedSimdFlags) {
    const result = spawnSync(process.execPath, ['--v8-options'], { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`${process.execPath} --v8-options failed (exit code ${result.status}): ${result.stderr}`);
    relaxedSimdFlags = result.stdout.includes(RELAXED_SIMD_FLAG) ? [RELAXED_SIMD_FLAG] : [];
  }
  return relaxedSimdFlags;
}

/** wasmSupport() as reported by the built package (dist/) in a new Node process started with nodeOptions. */
export function probeNodeSupport(nodeOptions: string[]): Support & { webAssembly: boolean; path: string; threads: number } {
  const entry = path.join(REPOSITORY_ROOT, 'dist', 'index.js');
  if (!existsSync(entry)) throw new Error(`${entry} is missing: run "npm run build" before this test.`);
  const script = `import { wasmSupport } from ${JSON.stringify(pathToFileURL(entry).href)}; console.log(JSON.stringify(wasmSupport()));`;
  const result = spawnSync(process.execPath, [...nodeOptions, '--input-type=module', '-e', script], { encoding: 'utf8' });
  if (result.status !== 0) {
    throw new Error(`node ${nodeOptions.join(' ')} failed to report wasmSupport() (exit code ${result.status}): ${result.stderr}`);
  }
  return JSON.parse(result.stdout);
}
