import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

const imageSourceDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'image');
const NODE_ONLY_FILE = 'decode-node.ts';

// Node built-ins (with or without the node: prefix) and sharp.
const NODE_ONLY_SPECIFIER = /^(node:|sharp$|fs$|fs\/|path$|os$|url$|module$|child_process$|worker_threads$)/;
// Static `import ... from 'x'`, `export ... from 'x'` and bare `import 'x'`, but not `import type`.
const STATIC_IMPORT = /^\s*(?:import|export)\s+(?!type\b)(?:[^'"]*?\sfrom\s+)?['"]([^'"]+)['"]/gm;

function staticImports(file: string): string[] {
  const source = readFileSync(path.join(imageSourceDir, file), 'utf8');
  return Array.from(source.matchAll(STATIC_IMPORT), (match) => match[1]);
}

describe('src/image browser safety', () => {
  const files = readdirSync(imageSourceDir).filter((file) => file.endsWith('.ts'));

  it('finds the image sources', () => {
    expect(files).toContain('index.ts');
    expect(files).toContain(NODE_ONLY_FILE);
  });

  for (const file of files.filter((name) => name !== NODE_ONLY_FILE)) {
    it(`${file} has no static Node import`, () => {
      const nodeOnly = staticImports(file).filter((specifier) => NODE_ONLY_SPECIFIER.test(specifier));
      expect(nodeOnly).toEqual([]);
      expect(staticImports(file)).not.toContain('./decode-node.js');
    });
  }

  it('bundles for browsers without Node modules', async () => {
    // esbuild comes with vite, which vitest depends on. A browser build fails when a
    // static import reaches node:fs or sharp, because the browser platform has neither.
    const esbuild = await import('esbuild');
    const result = await esbuild.build({
      entryPoints: [path.join(imageSourceDir, 'index.ts')],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      logLevel: 'silent',
    });
    const bundle = result.outputFiles[0].text;
    expect(bundle).toContain('function decodeBmp');
    expect(bundle).not.toContain('node:fs');
    expect(bundle).not.toMatch(/from\s*["']sharp["']/);
  });

  it('sees the Node imports of decode-node.ts', () => {
    // Guards the pattern above: it must catch the one file that does import node:fs.
    expect(staticImports(NODE_ONLY_FILE)).toContain('node:fs/promises');
  });
});
