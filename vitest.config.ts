import { defineConfig } from 'vitest/config';
import { relaxedSimdNodeFlags } from './test/support/wasm-builds.js';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Whole-network comparisons against TensorFlow.js's CPU backend take minutes
    // on 2 cores; this timeout only stops a hung test and asserts nothing about speed.
    testTimeout: 20 * 60 * 1000,
    hookTimeout: 20 * 60 * 1000,
    pool: 'forks',
    // Node 20 validates relaxed SIMD only with a V8 flag, which Node 22 rejects, so the
    // flag is passed only where V8 lists it. In every Node version the workers then pick
    // the relaxed-SIMD build by default, and the kernel tests run it too (test/support/buffers.ts).
    poolOptions: { forks: { execArgv: relaxedSimdNodeFlags() } },
  },
});
