import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { REPOSITORY_ROOT } from '../support/fixtures.js';

// The package entry must bundle for browsers: Node built-ins may only be reached
// through dynamic import() on the Node-only paths (reading a file path), never statically.
describe('browser bundle of the package entry', () => {
  test('has no static Node import', async () => {
    const esbuild = await import('esbuild');
    const result = await esbuild.build({
      entryPoints: [path.join(REPOSITORY_ROOT, 'src', 'index.ts')],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      metafile: true,
      logLevel: 'silent',
      external: ['node:*', 'sharp'],
    });
    const imports = Object.values(result.metafile.inputs).flatMap((input) => input.imports);
    const nodeImports = imports.filter((entry) => entry.path.startsWith('node:') || entry.path === 'sharp');
    expect(nodeImports.length, 'the Node-only paths are still there').toBeGreaterThan(0);
    for (const entry of nodeImports) {
      expect(entry.kind, `${entry.path} is imported statically`).toBe('dynamic-import');
    }
    const bundle = result.outputFiles[0].text;
    expect(bundle).not.toMatch(/^import\s[^;]*from\s*["']node:/m);
    // The kernels are embedded, so the bundle needs no .wasm file next to it.
    expect(bundle).toContain('SIMD_WASM_BASE64');
  });
});
