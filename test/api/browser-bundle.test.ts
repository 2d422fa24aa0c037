import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { REPOSITORY_ROOT } from '../support/fixtures.js';

// A user's browser bundle of the package must build with no configuration: Node
// built-ins are reached only through dynamic imports whose specifiers bundlers
// do not resolve, on the Node-only paths (reading a file path, decoding with sharp).
describe('browser bundle of the package entry', () => {
  test('builds with no externals', async () => {
    const esbuild = await import('esbuild');
    const result = await esbuild.build({
      entryPoints: [path.join(REPOSITORY_ROOT, 'src', 'index.ts')],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    expect(result.errors).toEqual([]);
    const imports = Object.values(result.metafile.inputs).flatMap((input) => input.imports);
    expect(imports.filter((entry) => entry.path.startsWith('node:') || entry.path === 'sharp')).toEqual([]);
    const bundle = result.outputFiles[0].text;
    expect(bundle).not.toMatch(/^import\s[^;]*from\s*["']node:/m);
    // The kernels are embedded, so the bundle needs no .wasm file next to it.
    expect(bundle).toContain('SIMD_WASM_BASE64');
  });
});
