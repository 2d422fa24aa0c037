// Threads in headless Chromium. A browser gives SharedArrayBuffer, which the
// thread pool needs, only to a cross-origin isolated page. So one origin on
// loopback serves the package with the two isolation headers, and another
// serves it without them. The isolated page must run models on several Web
// Workers with the same results as one thread. The other page must fall back
// to one thread and warn with the headers to set.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Prediction } from '../../src/index.js';
import { FIXTURES, FIXTURES_MISSING, REPOSITORY_ROOT, fixturesPresent } from '../support/fixtures.js';
import { collectPageErrors, launchChromium, type LaunchedChromium } from '../browser/chromium.js';
import { bitDifference } from './support.js';

declare global {
  interface Window {
    effnet: typeof import('../../src/index.js');
    poolWorkerCount: () => number;
    packageReady: boolean;
  }
}

const ISOLATION_HEADERS = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
};

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.bmp': 'image/bmp',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
};

// The package as plain ES modules from dist/, with an import map for its one dependency.
// threads.js is imported by its own URL too, so the page can read poolWorkerCount().
const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>efficientnet-wasm threads</title>
<script type="importmap">
{ "imports": { "efficientnet-wasm": "/dist/index.js", "flatbuffers": "/node_modules/flatbuffers/mjs/flatbuffers.js" } }
</script>
<script type="module">
import * as effnet from 'efficientnet-wasm';
import { poolWorkerCount } from '/dist/wasm/threads.js';
window.effnet = effnet;
window.poolWorkerCount = poolWorkerCount;
window.packageReady = true;
</script>
</head>
<body><p>efficientnet-wasm threads</p></body>
</html>
`;

// The same page on a bundle of the TypeScript sources, as a user's bundler would make it.
const BUNDLE_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>efficientnet-wasm threads, bundled</title>
<script type="module">
import * as effnet from '/bundle.js';
window.effnet = effnet;
window.poolWorkerCount = effnet.poolWorkerCount;
window.packageReady = true;
</script>
</head>
<body><p>efficientnet-wasm threads, bundled</p></body>
</html>
`;

/** Bundles the package entry, plus poolWorkerCount for the tests, into one browser ES module with esbuild. */
async function bundlePackage(): Promise<string> {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    stdin: {
      contents: "export * from './src/index.ts';\nexport { poolWorkerCount } from './src/wasm/threads.ts';\n",
      resolveDir: REPOSITORY_ROOT,
      loader: 'ts',
    },
    bundle: true,
    platform: 'browser',
    format: 'esm',
    write: false,
    logLevel: 'silent',
  });
  return result.outputFiles[0].text;
}

const MOUNTS: [string, string][] = [
  ['/dist/', path.join(REPOSITORY_ROOT, 'dist')],
  ['/node_modules/flatbuffers/', path.join(REPOSITORY_ROOT, 'node_modules', 'flatbuffers')],
  ['/fixtures/', FIXTURES],
];

interface TestServer {
  url: string;
  close(): Promise<void>;
}

/**
 * Serves PAGE_HTML at /, the pages in generated (path to text) and MOUNTS
 * read-only on 127.0.0.1, each response with the given extra headers.
 */
async function startServer(headers: Record<string, string>, generated: Map<string, string>): Promise<TestServer> {
  const server: Server = createServer(async (request, response) => {
    const pathname = decodeURIComponent(new URL(request.url ?? '/', 'http://127.0.0.1').pathname);
    const text = pathname === '/' ? PAGE_HTML : generated.get(pathname);
    if (text !== undefined) {
      const type = CONTENT_TYPES[path.extname(pathname)] ?? CONTENT_TYPES['.html'];
      response.writeHead(200, { ...headers, 'content-type': type, 'cache-control': 'no-store' }).end(text);
      return;
    }
    const mount = MOUNTS.find(([prefix]) => pathname.startsWith(prefix));
    const file = mount ? path.resolve(mount[1], '.' + path.posix.normalize('/' + pathname.slice(mount[0].length))) : null;
    try {
      if (file === null || !file.startsWith(mount![1] + path.sep)) throw new Error('not mounted');
      const info = await stat(file);
      response.writeHead(200, {
        ...headers,
        'content-type': CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream',
        'content-length': info.size,
        'cache-control': 'no-store',
      });
      createReadStream(file).pipe(response);
    } catch {
      response.writeHead(404, { ...headers, 'content-type': 'text/plain' }).end(`Not found: ${pathname}`);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** What a page reports after running a model. */
interface PageRun {
  threads: number;
  wasmPath: string;
  /** The predict() output as float32 bits, so that NaN and -0 survive the trip out of the page. */
  outputBits: number[];
  top5: Prediction[];
  workersWhileLoaded: number;
  workersAfterDispose: number;
}

/** Turns float32 bit patterns back into floats. */
function floatsFromBits(bits: number[]): Float32Array {
  return new Float32Array(Uint32Array.from(bits).buffer);
}

interface OpenedPage {
  page: Page;
  errors: string[];
  warnings: string[];
  requests: string[];
}

describe('threads in Chromium', () => {
  let chromium: LaunchedChromium | undefined;
  let isolated: TestServer | undefined;
  let plain: TestServer | undefined;

  beforeAll(async () => {
    const generated = new Map([
      ['/bundle.html', BUNDLE_PAGE_HTML],
      ['/bundle.js', await bundlePackage()],
    ]);
    isolated = await startServer(ISOLATION_HEADERS, generated);
    plain = await startServer({}, generated);
    chromium = await launchChromium();
  });

  afterAll(async () => {
    await chromium?.close();
    await isolated?.close();
    await plain?.close();
  });

  async function openPage(server: TestServer, pagePath = '/'): Promise<OpenedPage> {
    const page = await chromium!.context.newPage();
    const errors = collectPageErrors(page);
    const warnings: string[] = [];
    const requests: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'warning') warnings.push(message.text());
    });
    page.on('request', (request) => requests.push(request.url()));
    await page.goto(server.url + pagePath);
    await page.waitForFunction(() => window.packageReady === true);
    return { page, errors, warnings, requests };
  }

  /**
   * Creates the small any-size random B0 in the page with numThreads, runs
   * predict() on a 57x43 input and classify() on a 64x48 image, and disposes it.
   */
  function runRandomModel(page: Page, numThreads: number | 'auto'): Promise<PageRun> {
    return page.evaluate(async (threads) => {
      const effnet = window.effnet;
      const architecture = effnet.efficientNetArchitecture('b0', { numClasses: 10, scaling: { width: 0.25, depth: 0.34, resolution: 33 } });
      const graph = effnet.randomGraph(architecture, 5, { gain: 2 });
      graph.inputHeight = null;
      graph.inputWidth = null;
      const description = {
        name: 'small any-size',
        format: 'builtin' as const,
        graph,
        labels: null,
        normalization: { mean: [0, 0, 0] as [number, number, number], std: [1, 1, 1] as [number, number, number] },
        quantized: false,
      };
      const model = await effnet.createModel(description, { numThreads: threads });
      const input = new Float32Array(57 * 43 * 3);
      for (let i = 0; i < input.length; i++) input[i] = Math.sin(i * 0.37);
      const output = model.predict(input, { height: 57, width: 43 });
      const data = new Uint8Array(64 * 48 * 3);
      for (let i = 0; i < data.length; i++) data[i] = (i * 37) % 256;
      const top5 = (await model.classify({ data, width: 64, height: 48, channels: 3 }, { topK: 5 })).predictions;
      const { threads: used, wasmPath } = model.info;
      const workersWhileLoaded = window.poolWorkerCount();
      model.dispose();
      return {
        threads: used,
        wasmPath,
        outputBits: Array.from(new Uint32Array(output.buffer, output.byteOffset, output.length)),
        top5,
        workersWhileLoaded,
        workersAfterDispose: window.poolWorkerCount(),
      };
    }, numThreads);
  }

  function expectLoopbackOnly(requests: string[]): void {
    const outside = requests.filter((url) => !/^(http:\/\/127\.0\.0\.1:\d+\/|blob:|data:)/.test(url));
    expect(outside, 'requests to anything but 127.0.0.1').toEqual([]);
  }

  test('isolated page runs on several threads', async () => {
    const { page, errors, warnings, requests } = await openPage(isolated!);
    const state = await page.evaluate(() => ({
      crossOriginIsolated: globalThis.crossOriginIsolated,
      sharedArrayBuffer: typeof SharedArrayBuffer,
      cores: navigator.hardwareConcurrency,
      support: window.effnet.wasmSupport(),
    }));
    expect(state.crossOriginIsolated).toBe(true);
    expect(state.sharedArrayBuffer).toBe('function');
    expect(state.support.threads, 'wasmSupport().threads').toBe(true);

    const single = await runRandomModel(page, 1);
    expect(single.threads).toBe(1);
    for (const threads of [2, 3, 'auto'] as const) {
      const run = await runRandomModel(page, threads);
      const expectedThreads = threads === 'auto' ? Math.max(1, state.cores) : threads;
      expect(run.threads, `info.threads with numThreads ${threads} (${state.cores} cores)`).toBe(expectedThreads);
      expect(run.wasmPath).toBe(single.wasmPath);
      expect(run.workersWhileLoaded, `Web Workers with numThreads ${threads}`).toBe(expectedThreads - 1);
      expect(run.workersAfterDispose, `Web Workers after dispose (numThreads ${threads})`).toBe(0);
      const difference = bitDifference(floatsFromBits(run.outputBits), floatsFromBits(single.outputBits));
      expect(difference, `predict() on ${threads} threads against 1`).toBeNull();
      expect(run.top5, `top-5 on ${threads} threads`).toEqual(single.top5);
    }
    expect(state.cores, 'headless Chromium reports more than one core, so auto means threads').toBeGreaterThan(1);
    expect(warnings, 'console warnings').toEqual([]);
    expect(errors, 'page errors').toEqual([]);
    expectLoopbackOnly(requests);
    await page.close();
  });

  test.skipIf(!fixturesPresent)(`isolated page classifies a photo on threads${fixturesPresent ? '' : ` (${FIXTURES_MISSING})`}`, async () => {
    const { page, errors } = await openPage(isolated!);
    const runs = await page.evaluate(async () => {
      const results = [];
      for (const numThreads of [1, 2]) {
        const model = await window.effnet.loadModel('/fixtures/models/efficientnet_lite0_flowers_int8.tflite', { numThreads });
        const predictions = [];
        for (const photo of ['sunflower.bmp', 'coffee.png', 'hot_dog.jpg']) {
          predictions.push((await model.classify(new URL(`/fixtures/images/${photo}`, location.href).href, { topK: 5 })).predictions);
        }
        results.push({ threads: model.info.threads, predictions });
        model.dispose();
      }
      return results;
    });
    expect(runs.map((run) => run.threads)).toEqual([1, 2]);
    expect(runs[1].predictions, 'flower model top-5 on 2 threads against 1').toEqual(runs[0].predictions);
    expect(runs[0].predictions[0][0].label).toBe('sunflowers');
    expect(errors, 'page errors').toEqual([]);
    await page.close();
  });

  test('esbuild bundle runs on threads', async () => {
    const { page, errors } = await openPage(isolated!, '/bundle.html');
    const single = await runRandomModel(page, 1);
    const threaded = await runRandomModel(page, 2);
    expect(threaded.threads).toBe(2);
    expect(threaded.workersWhileLoaded, 'Web Workers started by the bundle').toBe(1);
    expect(threaded.workersAfterDispose).toBe(0);
    expect(threaded.outputBits, 'predict() bits on 2 threads against 1').toEqual(single.outputBits);
    expect(threaded.top5).toEqual(single.top5);

    // The bundle and dist/ run the same kernels, so they agree bit for bit too.
    const other = await openPage(isolated!);
    expect((await runRandomModel(other.page, 1)).outputBits, 'bundle against dist/').toEqual(single.outputBits);
    expect(errors, 'page errors').toEqual([]);
    await page.close();
    await other.page.close();
  });

  test('page without isolation warns', async () => {
    const { page, errors, warnings } = await openPage(plain!);
    const state = await page.evaluate(() => ({
      crossOriginIsolated: globalThis.crossOriginIsolated,
      sharedArrayBuffer: typeof SharedArrayBuffer,
      support: window.effnet.wasmSupport(),
    }));
    expect(state.crossOriginIsolated).toBe(false);
    expect(state.sharedArrayBuffer).toBe('undefined');
    expect(state.support.threads, 'wasmSupport().threads').toBe(false);

    const requested = await runRandomModel(page, 2);
    expect(requested.threads, 'info.threads with numThreads 2').toBe(1);
    expect(requested.workersWhileLoaded).toBe(0);
    const automatic = await runRandomModel(page, 'auto');
    expect(automatic.threads, "info.threads with numThreads 'auto'").toBe(1);

    // Warned once per page, naming both headers and their values.
    expect(warnings.length, `warnings: ${JSON.stringify(warnings)}`).toBe(1);
    for (const header of ['Cross-Origin-Opener-Policy: same-origin', 'Cross-Origin-Embedder-Policy: require-corp']) {
      expect(warnings[0], 'the warning names the header to set').toContain(header);
    }

    // The same model on an isolated page gives the same results on one thread or several.
    const other = await openPage(isolated!);
    const threaded = await runRandomModel(other.page, 2);
    expect(threaded.threads).toBe(2);
    expect(threaded.outputBits, 'predict() bits against the isolated page on 2 threads').toEqual(requested.outputBits);
    expect(threaded.top5).toEqual(requested.top5);
    expect(errors, 'page errors').toEqual([]);
    await page.close();
    await other.page.close();
  });
});
