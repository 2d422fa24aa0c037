import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { FIXTURES, FIXTURES_MISSING, FLOWER_MODEL, MOBILENET_MODEL, REPOSITORY_ROOT, fixturesPresent } from '../support/fixtures.js';
import { defaultBuildFor, probeNodeSupport, relaxedSimdNodeFlags } from '../support/wasm-builds.js';

const CLI = path.join(REPOSITORY_ROOT, 'dist', 'cli', 'main.js');
const image = (name: string) => path.join(FIXTURES, 'images', name);

/** Runs the CLI in a Node started with no options, as `npx effnet` starts it. */
function effnet(...args: string[]) {
  return effnetWithNodeOptions([], ...args);
}

function effnetWithNodeOptions(nodeOptions: string[], ...args: string[]) {
  const result = spawnSync(process.execPath, [...nodeOptions, CLI, ...args], { encoding: 'utf8', cwd: REPOSITORY_ROOT });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Labels in the order the human-readable output lists them. */
function labels(stdout: string): string[] {
  return stdout
    .split('\n')
    .filter((line) => /^\s+\d\.\d{4}\s/.test(line))
    .map((line) => line.trim().replace(/^\d\.\d{4}\s+/, ''));
}

/** The build that 'auto' picks in a Node started with no options, from that Node's own wasmSupport(). */
let plainNodeBuild: string;

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" before the CLI tests.`);
  plainNodeBuild = defaultBuildFor(probeNodeSupport([]));
});

describe('effnet usage', () => {
  test('help prints usage', () => {
    const result = effnet('--help');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('effnet classify <image...> [--model <name|file>]');
  });

  test('version matches package.json', () => {
    const result = effnet('--version');
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  test('unknown command exits 2', () => {
    const result = effnet('frobnicate');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('effnet: Unknown command "frobnicate": expected classify, info, convert, models or bench.');
  });

  test('unknown option exits 2', () => {
    const result = effnet('classify', 'photo.jpg', '--bogus');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('effnet: Unknown option --bogus: run "effnet --help" for the list of options.');
  });

  test('option value starting with a dash', () => {
    const result = effnet('classify', 'photo.jpg', '--model', 'm.tflite', '--top-k', '-1');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Invalid or missing value for --top-k');
  });

  test('no arguments print usage to stderr', () => {
    const result = effnet();
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('Usage:');
  });

  test('no model option uses the default name', () => {
    // An empty cache and a mirror on a closed loopback port: the default model is looked up, and nothing leaves the machine.
    const cacheDir = mkdtempSync(path.join(tmpdir(), 'effnet-cache-'));
    const env = { ...process.env, EFFNET_CACHE_DIR: cacheDir, EFFNET_MODEL_BASE_URL: 'http://127.0.0.1:9/' };
    const result = spawnSync(process.execPath, [CLI, 'classify', 'photo.jpg'], { encoding: 'utf8', cwd: REPOSITORY_ROOT, env });
    rmSync(cacheDir, { recursive: true, force: true });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(
      'effnet: Failed to download model efficientnet-lite0 from http://127.0.0.1:9/image_classifier/efficientnet_lite0/float32/1/efficientnet_lite0.tflite',
    );
  });

  test('mean without std exits 2', () => {
    const result = effnet('classify', 'photo.jpg', '--model', 'm.tflite', '--mean', '127.5');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Missing --mean or --std: give both, as in --mean 127.5 --std 127.5.');
  });

  test('zero std exits 2', () => {
    const result = effnet('classify', 'photo.jpg', '--model', 'm.tflite', '--mean', '0', '--std', '1,0,1');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Invalid --std: expected one number or three comma-separated numbers (R,G,B) above 0');
  });

  test('invalid top-k exits 2', () => {
    const result = effnet('classify', 'photo.jpg', '--model', 'm.tflite', '--top-k', 'zero');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Invalid --top-k: expected a positive integer, but got "zero".');
  });

  test('missing model file names it', () => {
    const result = effnet('info', '--model', 'no/such/model.tflite');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('Model file not found: no/such/model.tflite');
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  test('non-model file is rejected', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'effnet-'));
    const file = path.join(dir, 'notes.tflite');
    writeFileSync(file, 'these are not weights');
    const result = effnet('info', '--model', file);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`Failed to load model ${file}`);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});

describe.skipIf(!fixturesPresent)('effnet on the fixture models', () => {
  test('sunflower with the flower model', () => {
    const result = effnet('classify', image('sunflower.bmp'), '--model', FLOWER_MODEL);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(labels(result.stdout)[0]).toBe('sunflowers');
  });

  test('cat and coffee with MobileNetV2', () => {
    const result = effnet('classify', image('cat.bmp'), image('coffee.png'), '--model', MOBILENET_MODEL, '--top-k', '3');
    expect(result.code).toBe(0);
    const found = labels(result.stdout);
    expect(found.length).toBe(6);
    expect(found[0]).toBe('Egyptian cat');
    expect(found[3]).toBe('espresso');
  });

  test('json output parses', () => {
    const result = effnet('classify', image('hot_dog.jpg'), '--model', MOBILENET_MODEL, '--json', '--top-k', '2');
    expect(result.code).toBe(0);
    const parsed = JSON.parse(result.stdout);
    expect(parsed.results[0].image).toBe(image('hot_dog.jpg'));
    expect(parsed.results[0].predictions.length).toBe(2);
    expect(parsed.results[0].predictions[0].label).toBe('hotdog, hot dog, red hot');
    expect(parsed.wasmPath).toBe(plainNodeBuild);
  });

  test('truncated image fails cleanly', () => {
    const truncated = image('truncated.jpg');
    const result = effnet('classify', truncated, '--model', FLOWER_MODEL);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(truncated);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(result.stdout).toBe('');
  });

  test('one bad image keeps the others', () => {
    const result = effnet('classify', image('truncated.jpg'), image('sunflower.bmp'), '--model', FLOWER_MODEL);
    expect(result.code).toBe(1);
    expect(labels(result.stdout)[0]).toBe('sunflowers');
  });

  test('info describes the flower model', () => {
    const result = effnet('info', '--model', FLOWER_MODEL);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/input\s+224x224x3/);
    expect(result.stdout).toMatch(/classes\s+5/);
    expect(result.stdout).toMatch(/quantized\s+yes/);
    const cores = os.availableParallelism();
    expect(result.stdout).toMatch(new RegExp(`wasm path\\s+${plainNodeBuild}, ${cores} thread${cores === 1 ? '' : 's'}`));
  });

  test('--wasm forces a build', () => {
    for (const build of ['simd', 'scalar']) {
      const result = effnet('info', '--model', FLOWER_MODEL, '--json', '--wasm', build);
      expect(result.code, result.stderr).toBe(0);
      expect(JSON.parse(result.stdout).wasmPath).toBe(build);
    }
  });

  test.skipIf(relaxedSimdNodeFlags().length === 0)('relaxed SIMD needs the flag (Node 20)', () => {
    // Skipped where V8 no longer lists the flag: relaxed SIMD is on by default there.
    expect(plainNodeBuild).toBe('simd');
    const forced = effnet('info', '--model', FLOWER_MODEL, '--wasm', 'relaxed-simd');
    expect(forced.code).toBe(1);
    expect(forced.stderr).toContain('does not support WebAssembly relaxed SIMD');
    const flagged = effnetWithNodeOptions(relaxedSimdNodeFlags(), 'info', '--model', FLOWER_MODEL, '--json');
    expect(flagged.code, flagged.stderr).toBe(0);
    expect(JSON.parse(flagged.stdout).wasmPath).toBe('relaxed-simd');
  });

  test('labels file replaces the labels', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'effnet-labels-'));
    try {
      const file = path.join(dir, 'labels.txt');
      writeFileSync(file, 'first\nsecond\nthird\nfourth\nfifth\n\n');
      const result = effnet('classify', image('sunflower.bmp'), '--model', FLOWER_MODEL, '--labels', file);
      expect(result.code).toBe(0);
      expect(labels(result.stdout)[0]).toBe('fourth');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('labels file with a wrong count', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'effnet-labels-'));
    try {
      const file = path.join(dir, 'labels.txt');
      writeFileSync(file, 'one\ntwo\nthree\n');
      const result = effnet('classify', image('sunflower.bmp'), '--model', FLOWER_MODEL, '--labels', file);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('Invalid labels option: the model has 5 classes, but 3 labels were given.');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('mean and std rejected for integer input', () => {
    const result = effnet('info', '--model', FLOWER_MODEL, '--mean', '1,2,3', '--std', '4');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('Invalid normalization option: efficientnet_lite0 takes integer-quantized input');
  });

  test('info json', () => {
    const result = effnet('info', '--model', MOBILENET_MODEL, '--json');
    expect(result.code).toBe(0);
    const info = JSON.parse(result.stdout);
    expect(info.numClasses).toBe(1001);
    expect(info.hasLabels).toBe(true);
  });
});

if (!fixturesPresent) console.warn(`CLI runs on the fixture models ${FIXTURES_MISSING}`);
