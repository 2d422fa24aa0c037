/**
 * The CLI with models by name, against a local HTTP server on 127.0.0.1:
 * `classify` without --model (the test registry maps the default name to the
 * fixture TFLite), download progress on stderr, `effnet models`, and
 * `effnet bench`. The CLI runs as a child process with its cache in a
 * temporary folder, so no test touches the user's cache or the internet.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, FIXTURES_MISSING, FLOWER_MODEL, REPOSITORY_ROOT, fixturesPresent } from '../support/fixtures.js';
import { ModelServer } from '../zoo/model-server.js';
import { defaultBuildFor, probeNodeSupport } from '../support/wasm-builds.js';

const CLI = path.join(REPOSITORY_ROOT, 'dist', 'cli', 'main.js');
const FLOWER_PATH = 'models/flowers.tflite';

let server: ModelServer;
let baseUrl: string;
let folder: string;
let cacheDir: string;
let registryPath: string;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the CLI without blocking this process, so the in-process server can
 * respond to it. The environment drops any EFFNET_ variable of the caller's.
 */
function effnet(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('EFFNET_')));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: REPOSITORY_ROOT, env: { ...base, EFFNET_CACHE_DIR: cacheDir, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" before the CLI tests.`);
  server = new ModelServer();
  baseUrl = await server.start();
  folder = mkdtempSync(path.join(tmpdir(), 'effnet-zoo-cli-'));
  cacheDir = path.join(folder, 'cache');
  registryPath = path.join(folder, 'registry.json');
  if (fixturesPresent) {
    const bytes = new Uint8Array(readFileSync(FLOWER_MODEL));
    server.serve(FLOWER_PATH, { bytes });
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const registry = {
      baseUrl,
      models: [
        {
          name: 'efficientnet-lite0',
          description: 'the fixture flower model, standing in for the default model',
          format: 'tflite',
          files: [{ path: FLOWER_PATH, size: bytes.length, sha256 }],
          license: 'Apache-2.0',
          source: 'test',
        },
      ],
    };
    writeFileSync(registryPath, JSON.stringify(registry));
  }
});

afterAll(async () => {
  await server?.close();
  if (folder) rmSync(folder, { recursive: true, force: true });
});

describe.skipIf(!fixturesPresent)(`effnet with the default model${fixturesPresent ? '' : ` (${FIXTURES_MISSING})`}`, () => {
  const photo = () => path.join(FIXTURES, 'images', 'sunflower.bmp');

  it('classify without --model downloads once', async () => {
    const first = await effnet(['classify', photo()], { EFFNET_MODEL_REGISTRY: registryPath });
    expect(first.stderr).toMatch(/^Downloading model efficientnet-lite0 \(3\.8 MiB\)\.\.\.\nDownloaded model efficientnet-lite0 \(3\.8 MiB\) in \d+\.\d s\.\n$/);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^\S*sunflower\.bmp {2}\(\d+\.\d ms inference\)\n {2}0\.9\d{3} {2}sunflowers\n/);
    expect(server.requestsFor(FLOWER_PATH)).toHaveLength(1);
    expect(existsSync(path.join(cacheDir, 'efficientnet-lite0', 'flowers.tflite'))).toBe(true);

    const second = await effnet(['classify', photo(), '--json'], { EFFNET_MODEL_REGISTRY: registryPath });
    expect(second.code).toBe(0);
    expect(second.stderr).toBe('');
    expect(JSON.parse(second.stdout).results[0].predictions[0].label).toBe('sunflowers');
    expect(server.requestsFor(FLOWER_PATH)).toHaveLength(1);
  });

  it('models lists the cache', async () => {
    await effnet(['info'], { EFFNET_MODEL_REGISTRY: registryPath });
    const json = await effnet(['models', '--json'], { EFFNET_MODEL_REGISTRY: registryPath });
    expect(json.code).toBe(0);
    const listing = JSON.parse(json.stdout);
    expect(listing.cacheDir).toBe(cacheDir);
    expect(listing.defaultModel).toBe('efficientnet-lite0');
    const names = listing.models.map((model: { name: string }) => model.name);
    expect(names).toEqual(['efficientnet-lite0', 'efficientnet-lite0-int8', 'efficientnet-lite2', 'efficientnet-lite2-int8']);
    const lite0 = listing.models[0];
    expect(lite0.cached).toBe(true);
    expect(lite0.url).toBe(`${baseUrl}${FLOWER_PATH}`);
    expect(lite0.cachePath).toBe(path.join(cacheDir, 'efficientnet-lite0', 'flowers.tflite'));
    expect(listing.models[1].cached).toBe(false);

    const text = await effnet(['list'], { EFFNET_MODEL_REGISTRY: registryPath });
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`Models by name, downloaded on first use into ${cacheDir}`);
    expect(text.stdout).toMatch(/\nefficientnet-lite0 \(default\) +tflite +3\.8 MiB +yes +Apache-2\.0 +the fixture flower model/);
    expect(text.stdout).toMatch(/\nefficientnet-lite2-int8 +tflite +unknown +no +Apache-2\.0 /);
  });

  it('bench a model by name', async () => {
    const result = await effnet(['bench', '--model', 'efficientnet-lite0', '--runs', '2', '--warmup', '0', '--json'], { EFFNET_MODEL_REGISTRY: registryPath });
    expect(result.code).toBe(0);
    const bench = JSON.parse(result.stdout);
    expect(bench.source).toBe('efficientnet-lite0');
    expect(bench.format).toBe('tflite');
    expect(bench.inputSize).toEqual({ height: 224, width: 224 });
    expect(bench.inputSpace).toBe('pixels');
    expect(bench.timesMs).toHaveLength(2);
  });
});

describe('effnet download errors', () => {
  it('default model from a mirror without it', async () => {
    const result = await effnet(['classify', 'photo.jpg'], { EFFNET_MODEL_BASE_URL: `${baseUrl}empty-mirror/` });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      `effnet: Failed to download model efficientnet-lite0 from ${baseUrl}empty-mirror/image_classifier/efficientnet_lite0/float32/1/efficientnet_lite0.tflite: ` +
        'the server returned HTTP 404 Not Found. The file is not at that address: check the model base URL (EFFNET_MODEL_BASE_URL, modelBaseUrl) or update the package.\n',
    );
    expect(server.requestsFor('empty-mirror/image_classifier/efficientnet_lite0/float32/1/efficientnet_lite0.tflite')).toHaveLength(1);
  });

  it('unknown model name lists the names', async () => {
    const result = await effnet(['info', '--model', 'efficientnet-b9']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      'effnet: Unknown model "efficientnet-b9": there is no such file, and it is not a registry name. ' +
        'Known names: efficientnet-lite0, efficientnet-lite0-int8, efficientnet-lite2, efficientnet-lite2-int8.',
    );
  });
});

describe('effnet bench', () => {
  it('built-in B0 as JSON', async () => {
    const result = await effnet(['bench', '--runs', '3', '--warmup', '1', '--json']);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    const bench = JSON.parse(result.stdout);
    expect(bench.model).toBe('efficientnet-b0 (seeded random weights)');
    expect(bench.source).toBe('builtin');
    expect(bench.format).toBe('builtin');
    expect(bench.inputSize).toEqual({ height: 224, width: 224 });
    // The CLI runs in a Node started with no options, so it picks what such a Node validates.
    expect(bench.wasmPath).toBe(defaultBuildFor(probeNodeSupport([])));
    // --threads defaults to auto: one thread per core of this machine.
    expect(bench.threads).toBe(os.availableParallelism());
    expect(bench.batch).toBe(1);
    expect(bench.runs).toBe(3);
    expect(bench.warmupRuns).toBe(1);
    expect(bench.timesMs).toHaveLength(3);
    for (const key of ['loadMs', 'firstRunMs', 'medianMs', 'minMs', 'maxMs', 'meanMs', 'imagesPerSecond']) {
      expect(Number.isFinite(bench[key]), key).toBe(true);
      expect(bench[key], key).toBeGreaterThan(0);
    }
    expect(bench.minMs).toBe(Math.min(...bench.timesMs));
    expect(bench.maxMs).toBe(Math.max(...bench.timesMs));
    expect(bench.medianMs).toBe([...bench.timesMs].sort((a: number, b: number) => a - b)[1]);
    expect(bench.imagesPerSecond).toBeCloseTo(1000 / bench.medianMs, 6);
  });

  it('text output with a size and the scalar build', async () => {
    const result = await effnet(['bench', '--runs', '2', '--warmup', '0', '--size', '64x96', '--wasm', 'scalar']);
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines.map((line) => line.slice(0, 12).trim())).toEqual(['model', 'input', 'wasm path', 'load', 'first run', 'runs', 'median', 'min / max', 'throughput']);
    expect(lines[0]).toBe('model       efficientnet-b0 (seeded random weights), built in');
    expect(lines[1]).toBe('input       1x64x96x3, synthetic');
    expect(lines[2]).toBe('wasm path   scalar, 1 thread');
    expect(lines[5]).toBe('runs        2 timed, after 0 warmup');
    expect(lines[6]).toMatch(/^median {6}\d+\.\d ms$/);
    expect(lines[8]).toMatch(/^throughput {2}\d+\.\d images\/s$/);
  });

  it('invalid options exit 2', async () => {
    const runs = await effnet(['bench', '--runs', '0']);
    expect(runs.code).toBe(2);
    expect(runs.stderr).toContain('effnet: Invalid --runs: expected a positive integer, but got "0".');
    const size = await effnet(['bench', '--size', '224']);
    expect(size.code).toBe(2);
    expect(size.stderr).toContain('effnet: Invalid --size: expected HEIGHTxWIDTH in pixels, as in 224x224, but got "224".');
    const misplaced = await effnet(['classify', 'photo.jpg', '--runs', '3']);
    expect(misplaced.code).toBe(2);
    expect(misplaced.stderr).toContain('effnet: Unexpected --runs: only "bench" takes it, not "classify".');
    const batch = await effnet(['classify', 'photo.jpg', '--batch', '4', '--size', '8x8']);
    expect(batch.code).toBe(2);
    expect(batch.stderr).toContain('effnet: Unexpected --size, --batch: only "bench" takes them, not "classify".');
    const negative = await effnet(['info', '--threads', '-1']);
    expect(negative.code).toBe(2);
    expect(negative.stderr).toContain('Invalid or missing value for --threads: give it a value, as in --threads 3 (write --threads=-1');
  });
});
