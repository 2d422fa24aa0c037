// Processes that use threads must end by themselves: the pool's workers are
// unreferenced, and they stop when the last model is disposed. Each case runs
// the built package (dist/) in a child Node process, which must exit with code
// 0 before CHILD_TIMEOUT_MS. That limit only stops a hung child and asserts
// nothing about speed.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { FIXTURES, FIXTURES_MISSING, FLOWER_MODEL, REPOSITORY_ROOT, fixturesPresent } from '../support/fixtures.js';
import { runToExit, type ExitedChild } from '../runtimes/harness.js';

const CHILD_TIMEOUT_MS = 60_000;
const DIST_ENTRY = path.join(REPOSITORY_ROOT, 'dist', 'index.js');
const DIST_THREADS = path.join(REPOSITORY_ROOT, 'dist', 'wasm', 'threads.js');
const CLI = path.join(REPOSITORY_ROOT, 'dist', 'cli', 'main.js');

beforeAll(() => {
  for (const file of [DIST_ENTRY, DIST_THREADS, CLI]) {
    if (!existsSync(file)) throw new Error(`${file} is missing: run "npm run build" before the thread exit tests.`);
  }
});

/**
 * Returns an ES module that imports the package as `effnet` and poolWorkerCount,
 * defines `report(entry)` (one JSON line on stdout), a small random B0
 * `description` with 10 classes, and a 40x30 RGB `image`, then runs body.
 */
function childScript(body: string): string {
  return `
import * as effnet from ${JSON.stringify(pathToFileURL(DIST_ENTRY).href)};
import { poolWorkerCount } from ${JSON.stringify(pathToFileURL(DIST_THREADS).href)};
const report = (entry) => console.log(JSON.stringify(entry));
const architecture = effnet.efficientNetArchitecture('b0', { numClasses: 10, scaling: { width: 0.25, depth: 0.34, resolution: 33 } });
const graph = effnet.randomGraph(architecture, 5, { gain: 2 });
const description = { name: 'tiny', format: 'builtin', graph, labels: null, normalization: { mean: [0, 0, 0], std: [1, 1, 1] }, quantized: false };
const image = { data: Uint8Array.from({ length: 40 * 30 * 3 }, (_, i) => (i * 37) % 256), width: 40, height: 30, channels: 3 };
${body}
`;
}

let scriptDir: string;
let scriptCount = 0;

beforeAll(() => {
  scriptDir = mkdtempSync(path.join(tmpdir(), 'effnet-thread-exit-'));
});

afterAll(() => {
  rmSync(scriptDir, { recursive: true, force: true });
});

/** Runs a child Node with nodeOptions on a module file from childScript. */
function runChild(body: string, nodeOptions: string[] = []): Promise<ExitedChild> {
  const file = path.join(scriptDir, `child-${++scriptCount}.mjs`);
  writeFileSync(file, childScript(body));
  return runToExit(process.execPath, [...nodeOptions, file], { cwd: REPOSITORY_ROOT, timeoutMs: CHILD_TIMEOUT_MS });
}

/** Checks that a child exited by itself with code 0, and parses every JSON line it printed. */
function reportsOf(result: ExitedChild, context: string): Record<string, unknown>[] {
  const output = `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
  expect(result.signal, `${context}: the child was killed\n${output}`).toBeNull();
  expect(result.code, `${context}: exit code\n${output}`).toBe(0);
  return result.stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('process exit with threads', () => {
  test('exits after dispose', async () => {
    const result = await runChild(`
      const single = await effnet.createModel(description, { numThreads: 1 });
      const expected = (await single.classify(image, { topK: 10 })).predictions;
      single.dispose();
      const model = await effnet.createModel(description, { numThreads: 2 });
      const { predictions } = await model.classify(image, { topK: 10 });
      report({ threads: model.info.threads, workers: poolWorkerCount(), same: JSON.stringify(predictions) === JSON.stringify(expected) });
      model.dispose();
      report({ workersAfterDispose: poolWorkerCount() });
    `);
    const [run, after] = reportsOf(result, 'classify, then dispose');
    expect(run).toEqual({ threads: 2, workers: 1, same: true });
    expect(after).toEqual({ workersAfterDispose: 0 });
  });

  test('exits without dispose', async () => {
    const result = await runChild(`
      const model = await effnet.createModel(description, { numThreads: 3 });
      await model.classify(image);
      model.predict(new Float32Array(33 * 33 * 3));
      report({ threads: model.info.threads, workers: poolWorkerCount() });
    `);
    expect(reportsOf(result, 'a 3-thread model never disposed')).toEqual([{ threads: 3, workers: 2 }]);
  });

  test('exits with a batching model loaded', async () => {
    const result = await runChild(`
      const model = await effnet.createModel(description, { numThreads: 2, batching: { maxBatch: 4, maxDelayMs: 20 } });
      const results = await Promise.all([image, image, image].map((entry) => model.classify(entry)));
      report({ results: results.length, workers: poolWorkerCount() });
    `);
    expect(reportsOf(result, 'batched classify() calls, model never disposed')).toEqual([{ results: 3, workers: 1 }]);
  });

  test('exits after a failed load', async () => {
    const result = await runChild(`
      const error = await effnet.loadModel(new Uint8Array(16), { numThreads: 2 }).then(() => null, (failure) => failure.message);
      report({ failed: error !== null });
    `);
    expect(reportsOf(result, 'loadModel of an invalid file on 2 threads')).toEqual([{ failed: true }]);
  });

  test.skipIf(!fixturesPresent)(`CLI --threads 2 equals --threads 1${fixturesPresent ? '' : ` (${FIXTURES_MISSING})`}`, async () => {
    const images = ['sunflower.bmp', 'coffee.png'].map((file) => path.join(FIXTURES, 'images', file));
    const run = async (threads: string) => {
      const args = [CLI, 'classify', ...images, '--model', FLOWER_MODEL, '--threads', threads, '--json'];
      const result = await runToExit(process.execPath, args, { cwd: REPOSITORY_ROOT, timeoutMs: CHILD_TIMEOUT_MS });
      expect(result.signal, `effnet classify --threads ${threads} was killed: ${result.stderr}`).toBeNull();
      expect(result.code, `effnet classify --threads ${threads}: ${result.stderr}`).toBe(0);
      return JSON.parse(result.stdout) as { threads: number; results: { image: string; predictions: unknown[] }[] };
    };
    const single = await run('1');
    const threaded = await run('2');
    expect(single.threads).toBe(1);
    expect(threaded.threads).toBe(2);
    expect(threaded.results.map((entry) => entry.predictions)).toEqual(single.results.map((entry) => entry.predictions));
    expect((single.results[0].predictions[0] as { label: string }).label).toBe('sunflowers');
  });
});

describe('module given with -e', () => {
  // The same script that the tests above run from a file, here given to node --input-type=module -e.
  test('runs on threads under --input-type=module', async () => {
    const script = childScript(`
      const model = await effnet.createModel(description, { numThreads: 2 });
      await model.classify(image);
      report({ threads: model.info.threads });
      model.dispose();
    `);
    const result = await runToExit(process.execPath, ['--input-type=module', '-e', script], { cwd: REPOSITORY_ROOT, timeoutMs: CHILD_TIMEOUT_MS });
    expect(reportsOf(result, 'node --input-type=module -e')).toEqual([{ threads: 2 }]);
  });
});

/** Returns the flag that turns on Node's permission model: --permission from Node 22, --experimental-permission in Node 20. */
function permissionFlag(): string {
  return process.allowedNodeEnvironmentFlags.has('--permission') ? '--permission' : '--experimental-permission';
}

describe("Node's permission model", () => {
  // Without --allow-worker, Node rejects new Worker() with ERR_ACCESS_DENIED, so no thread can start.
  test('without --allow-worker runs on one thread', async () => {
    const result = await runChild(
      `
      const warnings = [];
      console.warn = (message) => warnings.push(String(message));
      const support = effnet.wasmSupport();
      const auto = await effnet.createModel(description).then(
        (model) => ({ threads: model.info.threads }),
        (error) => ({ error: error.message }),
      );
      const requested = await effnet.createModel(description, { numThreads: 2 }).then(
        (model) => ({ threads: model.info.threads }),
        (error) => ({ error: error.message }),
      );
      report({ supportThreads: support.threads, auto, requested, warnings });
    `,
      [permissionFlag(), '--allow-fs-read=*'],
    );
    const [entry] = reportsOf(result, 'createModel under the permission model');
    expect(entry).toEqual({
      supportThreads: false,
      auto: { threads: 1 },
      requested: { threads: 1 },
      // One warning, for the explicit request, that names the flag which allows workers.
      warnings: [expect.stringContaining('--allow-worker')],
    });
  });

  test('with --allow-worker runs on threads', async () => {
    const result = await runChild(
      `
      const model = await effnet.createModel(description, { numThreads: 2 });
      await model.classify(image);
      report({ supportThreads: effnet.wasmSupport().threads, threads: model.info.threads });
      model.dispose();
    `,
      [permissionFlag(), '--allow-fs-read=*', '--allow-worker'],
    );
    expect(reportsOf(result, 'createModel with --allow-worker')).toEqual([{ supportThreads: true, threads: 2 }]);
  });
});
