// Makes test/support/tfjs-efficientnet.ts (buildTfjsModel, the Keras-style
// tfjs model that the parity tests use) importable from plain Node: the
// TypeScript compiler strips its types into an .mjs file under
// node_modules/.cache, where '@tensorflow/tfjs' resolves to this repository's
// copy. The benchmark builds both tfjs variants with it: the Graph as is
// (BatchNorm layers unfolded) and the Graph folded by foldGraph, which has
// no BatchNorm left, so every convolution gets a bias instead.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { root } from './models.mjs';

const source = path.join(root, 'test', 'support', 'tfjs-efficientnet.ts');
const outputFile = path.join(root, 'node_modules', '.cache', 'efficientnet-wasm-bench', 'tfjs-efficientnet.mjs');

/** URL of the transpiled module, for import() in the worker processes. */
export const tfjsModuleFile = pathToFileURL(outputFile).href;

/** Transpiles the tfjs model builder; run once in the parent before the workers start. */
export async function transpileTfjsBuilder() {
  const ts = (await import('typescript')).default;
  const { outputText, diagnostics } = ts.transpileModule(readFileSync(source, 'utf8'), {
    compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 },
    fileName: source,
    reportDiagnostics: true,
  });
  if (diagnostics && diagnostics.length > 0) {
    const messages = diagnostics.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')).join('; ');
    throw new Error(`Failed to transpile ${source}: ${messages}`);
  }
  mkdirSync(path.dirname(outputFile), { recursive: true });
  writeFileSync(outputFile, outputText);
  return outputFile;
}
