// Bundler check: Vite 7 builds two apps that import the package with no Vite
// configuration, a one-file app and examples/worker/, in temporary folders where
// node_modules/efficientnet-wasm links to this repository (as `npm link` would).
// The output must have no unresolved imports and no .wasm file, and both apps must
// classify fixture photos in headless Chromium as Node does.
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ModelInfo, Prediction } from '../../src/index.js';
import { FIXTURES, FIXTURES_MISSING, FLOWER_MODEL, MOBILENET_MODEL, REPOSITORY_ROOT, fixturesPresent } from '../support/fixtures.js';
import { defaultBuildFor } from '../support/wasm-builds.js';
import {
  NodeClassifier,
  collectPageErrors,
  expectSamePredictions,
  launchChromium,
  readPredictions,
  saveScreenshot,
  type LaunchedChromium,
} from './chromium.js';
// @ts-expect-error: a plain JavaScript module without type declarations.
import { startStaticServer } from '../../examples/browser/serve.mjs';

interface StaticServer {
  url: string;
  close(): Promise<void>;
}

declare global {
  interface Window {
    effnet: typeof import('../../src/index.js');
    workerClassifier: {
      classify(image: unknown, options?: { topK: number }): Promise<{ predictions: Prediction[] }>;
    };
  }
}

const IMAGES = path.join(FIXTURES, 'images');
// The repository's own Vite binary: `npx vite` in a folder without vite installed
// would fetch vite from the registry.
const VITE_BIN = path.join(REPOSITORY_ROOT, 'node_modules', 'vite', 'bin', 'vite.js');

const TINY_APP_HTML = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>efficientnet-wasm through Vite</title><script type="module" src="./main.js"></script></head>
<body><p>efficientnet-wasm bundled by Vite</p></body>
</html>
`;

const TINY_APP_SCRIPT = `import * as effnet from 'efficientnet-wasm';
window.effnet = effnet;
`;

interface ViteBuild {
  folder: string;
  log: string;
  files: string[];
}

/** Creates a project folder whose node_modules/efficientnet-wasm links to this repository. */
async function createProject(prefix: string): Promise<string> {
  const folder = await mkdtemp(path.join(os.tmpdir(), prefix));
  await writeFile(path.join(folder, 'package.json'), JSON.stringify({ name: 'vite-check', private: true, type: 'module' }));
  await mkdir(path.join(folder, 'node_modules'));
  await symlink(REPOSITORY_ROOT, path.join(folder, 'node_modules', 'efficientnet-wasm'), 'dir');
  return folder;
}

/** Runs `vite build` in folder and lists the files it wrote under dist/. */
async function viteBuild(folder: string): Promise<ViteBuild> {
  const { stdout, stderr } = await promisify(execFile)(process.execPath, [VITE_BIN, 'build'], { cwd: folder, encoding: 'utf8' });
  const files = (await readdir(path.join(folder, 'dist'), { recursive: true })).map((file) => file.split(path.sep).join('/'));
  return { folder, log: stdout + stderr, files };
}

/**
 * Lists the imports that esbuild cannot resolve in a built JavaScript file, plus any
 * import of a Node built-in or sharp. Imports with a computed specifier (the Node-only
 * code paths) are left for run time and not listed.
 */
async function unresolvedImports(file: string): Promise<string[]> {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [file],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    write: false,
    metafile: true,
    logLevel: 'silent',
  }).catch((error: { errors?: { text: string }[] }) => ({ errors: error.errors ?? [{ text: String(error) }], metafile: undefined }));
  const problems = result.errors.map((error) => error.text);
  for (const input of Object.values(result.metafile?.inputs ?? {})) {
    for (const entry of input.imports) {
      if (entry.path.startsWith('node:') || entry.path === 'sharp' || entry.external) problems.push(`imports ${entry.path}`);
    }
  }
  return problems;
}

function expectCleanBuild(build: ViteBuild): void {
  expect(build.log, 'vite build log').toContain('built in');
  expect(build.log, 'vite build log').not.toMatch(/externalized for browser compatibility|could not resolve|failed to resolve/i);
  // The kernels are embedded in the JavaScript, so nothing else has to be served.
  expect(build.files.filter((file) => file.endsWith('.wasm')), 'emitted .wasm files').toEqual([]);
}

describe.skipIf(!fixturesPresent)(`Vite bundle in Chromium${fixturesPresent ? '' : ` (${FIXTURES_MISSING})`}`, () => {
  let chromium: LaunchedChromium | undefined;
  let tinyApp: ViteBuild | undefined;
  let workerApp: ViteBuild | undefined;
  const servers: StaticServer[] = [];
  const folders: string[] = [];
  const node = new NodeClassifier();

  beforeAll(async () => {
    const tinyFolder = await createProject('effnet-vite-app-');
    folders.push(tinyFolder);
    await writeFile(path.join(tinyFolder, 'index.html'), TINY_APP_HTML);
    await writeFile(path.join(tinyFolder, 'main.js'), TINY_APP_SCRIPT);

    const workerFolder = await createProject('effnet-vite-worker-');
    folders.push(workerFolder);
    for (const file of ['index.html', 'main.js', 'worker.js', 'worker-client.js']) {
      await cp(path.join(REPOSITORY_ROOT, 'examples', 'worker', file), path.join(workerFolder, file));
    }

    // One build at a time: the machine has two cores, shared with the other test files.
    tinyApp = await viteBuild(tinyFolder);
    workerApp = await viteBuild(workerFolder);
    chromium = await launchChromium();
  });

  afterAll(async () => {
    await chromium?.close();
    for (const server of servers) await server.close();
    for (const folder of folders) await rm(folder, { recursive: true, force: true });
    await node.dispose();
  });

  /** Serves a built app at / and the fixtures at /fixtures/, and opens it in a new page. */
  async function openBuiltApp(build: ViteBuild): Promise<{ page: Page; errors: string[] }> {
    const server: StaticServer = await startStaticServer({
      mounts: [
        ['/', path.join(build.folder, 'dist')],
        ['/fixtures/', FIXTURES],
      ],
    });
    servers.push(server);
    const page = await chromium!.context.newPage();
    const errors = collectPageErrors(page);
    await page.goto(server.url + '/');
    return { page, errors };
  }

  test('one-file app builds with every import resolved', async () => {
    expectCleanBuild(tinyApp!);
    const scripts = tinyApp!.files.filter((file) => file.endsWith('.js'));
    expect(scripts.length).toBeGreaterThan(0);
    for (const script of scripts) {
      expect(await unresolvedImports(path.join(tinyApp!.folder, 'dist', script)), script).toEqual([]);
    }
    const code = (await Promise.all(scripts.map((script) => readFile(path.join(tinyApp!.folder, 'dist', script), 'utf8')))).join('\n');
    // "AGFzbQ" is the base64 of the wasm magic number, the start of each embedded kernel build.
    expect(code).toContain('AGFzbQ');
  });

  test('one-file app classifies on the main thread', async () => {
    const { page, errors } = await openBuiltApp(tinyApp!);
    await page.waitForFunction(() => 'effnet' in window);
    const results = await page.evaluate(async () => {
      const model = await window.effnet.loadModel('/fixtures/models/efficientnet_lite0_flowers_int8.tflite');
      const byFile: Record<string, Prediction[]> = {};
      for (const file of ['sunflower.bmp', 'hot_dog.jpg']) {
        const blob = await (await fetch(`/fixtures/images/${file}`)).blob();
        byFile[file] = (await model.classify(blob, { topK: 5 })).predictions;
      }
      const info: ModelInfo = model.info;
      model.dispose();
      return { byFile, wasmPath: info.wasmPath, support: window.effnet.wasmSupport() };
    });

    for (const [file, predictions] of Object.entries(results.byFile)) {
      expectSamePredictions(predictions, await node.classify(FLOWER_MODEL, path.join(IMAGES, file)), `Vite app, ${file}`);
    }
    expect(results.byFile['sunflower.bmp'][0].label).toBe('sunflowers');
    expect(results.support.path, 'Chromium picks the fastest build it validates').toBe(defaultBuildFor(results.support));
    expect(results.wasmPath).toBe(results.support.path);
    expect(errors).toEqual([]);
    await page.close();
  });

  test('worker example builds with every import resolved', async () => {
    expectCleanBuild(workerApp!);
    const scripts = workerApp!.files.filter((file) => file.endsWith('.js'));
    // Vite writes the worker as a chunk of its own, beside the page's script.
    expect(scripts.some((file) => /worker/.test(file)), `worker chunk among ${scripts.join(', ')}`).toBe(true);
    for (const script of scripts) {
      expect(await unresolvedImports(path.join(workerApp!.folder, 'dist', script)), script).toEqual([]);
    }
  });

  test('worker example classifies photos in the worker', async () => {
    // The example reports only the build that its worker ran. The one expected is what the
    // package's probes pick on the main thread of the same browser: a dedicated worker
    // validates wasm with the same engine (both validate relaxed SIMD in Chromium 156).
    const probe = await openBuiltApp(tinyApp!);
    await probe.page.waitForFunction(() => 'effnet' in window);
    const support = await probe.page.evaluate(() => window.effnet.wasmSupport());
    await probe.page.close();
    expect(probe.errors).toEqual([]);
    expect(support.path, 'Chromium picks the fastest build it validates').toBe(defaultBuildFor(support));

    const { page, errors } = await openBuiltApp(workerApp!);

    await page.fill('#model-url', '/fixtures/models/efficientnet_lite0_flowers_int8.tflite');
    await page.click('#model-url-form button[type="submit"]');
    await page.waitForSelector('#model-status:is([data-state="ready"], [data-state="error"])');
    expect(await page.textContent('#model-status')).toMatch(new RegExp(`^efficientnet_lite0 from .*, wasm path ${support.path} \\(in the worker\\)\\.$`));

    await page.setInputFiles('#photo-file', path.join(IMAGES, 'sunflower.bmp'));
    await page.waitForSelector('#results[data-image="sunflower.bmp"]:is([data-state="done"], [data-state="error"])');
    expect(await page.textContent('#error')).toBe('');
    expectSamePredictions(await readPredictions(page), await node.classify(FLOWER_MODEL, path.join(IMAGES, 'sunflower.bmp')), 'worker, flowers, sunflower.bmp');

    // A second model, from the local file input, replaces the first in the worker.
    await page.setInputFiles('#model-file', MOBILENET_MODEL);
    await page.waitForFunction(() => {
      const status = document.querySelector<HTMLElement>('#model-status')!;
      return status.dataset.state !== 'loading' && status.textContent!.includes('mobilenet_v2');
    });
    expect(await page.getAttribute('#model-status', 'data-state')).toBe('ready');
    await page.setInputFiles('#photo-file', path.join(IMAGES, 'hot_dog.jpg'));
    await page.waitForSelector('#results[data-image="hot_dog.jpg"]:is([data-state="done"], [data-state="error"])');
    expect(await page.textContent('#error')).toBe('');
    expectSamePredictions(await readPredictions(page), await node.classify(MOBILENET_MODEL, path.join(IMAGES, 'hot_dog.jpg')), 'worker, MobileNetV2, hot_dog.jpg');
    await saveScreenshot(page, 'browser-worker.png');

    // Through the example's client: an ImageBitmap is transferred (so it is detached
    // here afterwards), and a Blob is copied; both give Node's predictions.
    const transferred = await page.evaluate(async () => {
      const blob = await (await fetch('/fixtures/images/coffee.png')).blob();
      const bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
      const widthBefore = bitmap.width;
      const fromBitmap = await window.workerClassifier.classify(bitmap, { topK: 5 });
      const fromBlob = await window.workerClassifier.classify(blob, { topK: 5 });
      return { widthBefore, widthAfter: bitmap.width, fromBitmap: fromBitmap.predictions, fromBlob: fromBlob.predictions };
    });
    expect(transferred.widthBefore).toBe(600);
    expect(transferred.widthAfter, 'ImageBitmap width after the transfer').toBe(0);
    const coffee = await node.classify(MOBILENET_MODEL, path.join(IMAGES, 'coffee.png'));
    expectSamePredictions(transferred.fromBitmap, coffee, 'worker, ImageBitmap of coffee.png');
    expectSamePredictions(transferred.fromBlob, coffee, 'worker, Blob of coffee.png');

    expect(errors).toEqual([]);
    await page.close();
  });
});
