import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { FIXTURES, FIXTURES_MISSING, FLOWER_MODEL, MOBILENET_MODEL, REPOSITORY_ROOT, fixturesPresent } from '../support/fixtures.js';

const CLI = path.join(REPOSITORY_ROOT, 'dist', 'cli', 'main.js');
const image = (name: string) => path.join(FIXTURES, 'images', name);
const directory = mkdtempSync(path.join(tmpdir(), 'effnet-convert-'));

function effnet(...args: string[]) {
  const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: REPOSITORY_ROOT });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Runs the CLI without blocking this process, so that a server in this process can respond. */
async function effnetAsync(...args: string[]) {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, ...args], { cwd: REPOSITORY_ROOT });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

/** Parses classify --json output and drops the timings, which differ from run to run. */
function predictionsOf(stdout: string) {
  const parsed = JSON.parse(stdout) as { model: string; wasmPath: string; results: { image: string; predictions: unknown[] }[] };
  return { model: parsed.model, wasmPath: parsed.wasmPath, results: parsed.results.map(({ image, predictions }) => ({ image, predictions })) };
}

/** Compares two files byte for byte (toEqual walks a 13 MB buffer one element at a time, for minutes). */
function expectSameBytes(actualFile: string, expectedFile: string): void {
  const actual = readFileSync(actualFile);
  const expected = readFileSync(expectedFile);
  expect(actual.length, `${actualFile} size`).toBe(expected.length);
  expect(actual.equals(expected), `${actualFile} has the bytes of ${expectedFile}`).toBe(true);
}

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" before the CLI tests.`);
});
afterAll(() => rmSync(directory, { recursive: true, force: true }));

describe('effnet convert usage', () => {
  test('help lists convert', () => {
    const result = effnet('--help');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('effnet convert <model> --output <file>');
    expect(result.stdout).toContain('-o, --output <file>');
  });

  test('missing output exits 2', () => {
    const result = effnet('convert', 'model.tflite');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('effnet: Missing --output: name the file to write, as in effnet convert model.tflite -o model.safetensors.');
    expect(result.stderr).toContain('Run "effnet --help" for usage.');
  });

  test('missing model exits 2', () => {
    const result = effnet('convert', '-o', path.join(directory, 'none.safetensors'));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('effnet: Missing model: name the model file or URL to convert');
  });

  test('two models exit 2', () => {
    const result = effnet('convert', 'a.tflite', 'b.tflite', '-o', 'c.safetensors');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('effnet: Unexpected argument "b.tflite": "convert" takes one model.');
  });

  test('model option exits 2', () => {
    const result = effnet('convert', '--model', 'a.tflite', '-o', 'c.safetensors');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('effnet: Unexpected --model: "convert" takes the model file or URL as its argument');
  });

  test('output on another command exits 2', () => {
    const result = effnet('info', '--model', 'a.tflite', '-o', 'c.safetensors');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('effnet: Unexpected --output: only "convert" writes a file, "info" prints its results.');
  });

  test('missing input names it', () => {
    const output = path.join(directory, 'missing.safetensors');
    const result = effnet('convert', 'no/such/model.tflite', '-o', output);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('effnet: Model file not found: no/such/model.tflite. Check the path.');
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(output)).toBe(false);
  });

  test('non-model input is rejected', () => {
    const input = path.join(directory, 'notes.tflite');
    writeFileSync(input, 'these are not weights');
    const result = effnet('convert', input, '-o', path.join(directory, 'notes.safetensors'));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`effnet: Failed to load model ${input}: unrecognized file format`);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});

describe.skipIf(!fixturesPresent)('effnet convert on the fixture models', () => {
  const converted = path.join(directory, 'flowers.safetensors');

  beforeAll(() => {
    const result = effnet('convert', FLOWER_MODEL, '-o', converted);
    if (result.code !== 0) throw new Error(`effnet convert failed (exit ${result.code}): ${result.stderr}`);
  });

  test('convert prints what it wrote', () => {
    const output = path.join(directory, 'flowers-again.safetensors');
    const result = effnet('convert', FLOWER_MODEL, '-o', output);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const size = statSync(output).size;
    expect(result.stdout).toMatch(
      new RegExp(`^Wrote ${output.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(${(size / 1048576).toFixed(1)} MiB, 150 tensors\\) from .* \\(tflite\\) in \\d+\\.\\d\\d s\\.\\n$`),
    );
    expectSameBytes(output, converted);
  });

  test('json summary', () => {
    const output = path.join(directory, 'mobilenet.safetensors');
    const result = effnet('convert', MOBILENET_MODEL, '--output', output, '--json');
    expect(result.code).toBe(0);
    const summary = JSON.parse(result.stdout);
    expect(summary.input).toBe(MOBILENET_MODEL);
    expect(summary.output).toBe(output);
    expect(summary.bytes).toBe(statSync(output).size);
    expect(summary.tensors).toBeGreaterThan(100);
    expect(summary.inputFormat).toBe('tflite');
    expect(summary.seconds).toBeGreaterThan(0);
  });

  test('classify matches the original', () => {
    const images = [image('sunflower.bmp'), image('cat.bmp')];
    for (const wasm of ['simd', 'scalar']) {
      const original = effnet('classify', ...images, '--model', FLOWER_MODEL, '--json', '--wasm', wasm);
      const reloaded = effnet('classify', ...images, '--model', converted, '--json', '--wasm', wasm);
      expect(original.code, original.stderr).toBe(0);
      expect(reloaded.code, reloaded.stderr).toBe(0);
      expect(predictionsOf(reloaded.stdout), wasm).toEqual(predictionsOf(original.stdout));
    }
  });

  test('info reports the new format', () => {
    const original = JSON.parse(effnet('info', '--model', FLOWER_MODEL, '--json').stdout);
    const result = effnet('info', '--model', converted, '--json');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ ...original, format: 'efficientnet-wasm' });
  });

  test('output onto its input is rejected', () => {
    const before = readFileSync(converted);
    const untouched = path.join(directory, 'untouched.safetensors');
    writeFileSync(untouched, before);
    const spellings = [converted, path.join(directory, '..', path.basename(directory), 'flowers.safetensors')];
    const link = path.join(directory, 'link.safetensors');
    symlinkSync(converted, link);
    spellings.push(link);
    for (const output of spellings) {
      const result = effnet('convert', converted, '-o', output);
      expect(result.code, output).toBe(2);
      expect(result.stderr).toContain(`effnet: Invalid --output: ${output} is the model being converted, and convert never overwrites its input.`);
    }
    expectSameBytes(converted, untouched);
  });

  test('existing output is overwritten', () => {
    const output = path.join(directory, 'stale.safetensors');
    writeFileSync(output, 'stale');
    const result = effnet('convert', converted, '-o', output);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('(efficientnet-wasm)');
    expectSameBytes(output, converted);
  });

  test('unwritable output fails cleanly', () => {
    const missingDirectory = path.join(directory, 'no-such-directory', 'model.safetensors');
    const result = effnet('convert', FLOWER_MODEL, '-o', missingDirectory);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`effnet: Failed to write ${missingDirectory}: the directory ${path.dirname(missingDirectory)} does not exist.`);
    expect(result.stderr).not.toMatch(/\n\s+at /);

    const folder = path.join(directory, 'folder.safetensors');
    mkdirSync(folder);
    const onFolder = effnet('convert', FLOWER_MODEL, '-o', folder);
    expect(onFolder.code).toBe(1);
    expect(onFolder.stderr).toContain(`effnet: Failed to write ${folder}: it is a directory. Name a file.`);
  });

  test('truncated model file fails cleanly', () => {
    const truncated = path.join(directory, 'truncated.safetensors');
    const bytes = readFileSync(converted);
    writeFileSync(truncated, bytes.subarray(0, bytes.length >> 1));
    const result = effnet('info', '--model', truncated);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^effnet: Invalid safetensors file .*truncated\.safetensors: tensor ".+" ends at data byte \d+/);
    expect(result.stderr).toContain('The file is truncated');
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  describe('from a URL', () => {
    let server: Server;
    let base: string;
    beforeAll(async () => {
      const bytes = readFileSync(FLOWER_MODEL);
      server = createServer((request, response) => {
        if (request.url === '/models/flowers.tflite') {
          response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length });
          response.end(bytes);
        } else {
          response.writeHead(404);
          response.end('not found');
        }
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    test('downloads and converts', async () => {
      const output = path.join(directory, 'downloaded.safetensors');
      const result = await effnetAsync('convert', `${base}/models/flowers.tflite`, '-o', output);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toContain(`from ${base}/models/flowers.tflite (tflite)`);
      expectSameBytes(output, converted);
    });

    test('HTTP error names the URL', async () => {
      const result = await effnetAsync('convert', `${base}/models/missing.tflite`, '-o', path.join(directory, 'x.safetensors'));
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`effnet: Failed to download model ${base}/models/missing.tflite: the server returned HTTP 404 Not Found.`);
    });
  });
});

if (!fixturesPresent) console.warn(`effnet convert runs on the fixture models ${FIXTURES_MISSING}`);
