/**
 * Shared pieces of the Deno, Bun and workerd smoke tests: a temporary project
 * that depends on the built package, child processes that are always killed,
 * Node's own report computed in the test process, and the comparison with it.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, expect } from 'vitest';
import { FIXTURES, REPOSITORY_ROOT, readInput, readReference } from '../support/fixtures.js';
import { defaultBuildFor } from '../support/wasm-builds.js';
// @ts-expect-error: a plain JavaScript module shared with the other runtimes, without type declarations.
import { INPUT_NAMES, MODEL_FILES, PHOTO_FILES, classifyFixtures, classifyPhotos } from './fixture-runs.mjs';

export { INPUT_NAMES, MODEL_FILES, PHOTO_FILES };

export const RUNTIMES_DIR = path.join(REPOSITORY_ROOT, 'test', 'runtimes');
const DIST_ENTRY = path.join(REPOSITORY_ROOT, 'dist', 'index.js');

interface Prediction {
  index: number;
  label: string;
  score: number;
}

/** What classifyFixtures (models) or classifyPhotos (photos) returns, plus the runtime that produced it. */
export interface RuntimeReport {
  runtime: string;
  version: string;
  support: { webAssembly: boolean; simd: boolean; relaxedSimd: boolean; path: string; threads: unknown };
  models?: Record<string, { info: Record<string, unknown> & { wasmPath: string }; top5: Record<string, Prediction[]> }>;
  photos?: Record<string, Prediction[]>;
}

/** Throws unless `npm run build` has written the package entry and the kernel .wasm files. */
export function requireBuiltPackage(): void {
  for (const file of [DIST_ENTRY, path.join(REPOSITORY_ROOT, 'dist', 'wasm', 'kernels-simd.wasm')]) {
    if (!existsSync(file)) throw new Error(`${file} is missing: run "npm run build" before the runtime tests.`);
  }
}

/** Returns the path of a runtime's executable installed from npm. A missing one fails the test instead of skipping it. */
export function runtimeExecutable(name: 'deno' | 'bun' | 'workerd'): string {
  const executable = path.join(REPOSITORY_ROOT, 'node_modules', '.bin', name);
  if (!existsSync(executable)) {
    throw new Error(`${executable} is missing: the ${name} npm package is a devDependency; run "npm ci" in ${REPOSITORY_ROOT}.`);
  }
  return executable;
}

/**
 * Creates a temporary project that depends on the package the way
 * `npm install <path to this repository>` does (node_modules/efficientnet-wasm
 * is a symlink to the repository), and copies the named files of
 * test/runtimes into it.
 */
export function createConsumerProject(label: string, files: string[]): string {
  const dir = mkdtempSync(path.join(tmpdir(), `effnet-${label}-`));
  const manifest = {
    name: `effnet-${label}-smoke`,
    private: true,
    type: 'module',
    dependencies: { 'efficientnet-wasm': `file:${REPOSITORY_ROOT}` },
  };
  writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  mkdirSync(path.join(dir, 'node_modules'));
  symlinkSync(REPOSITORY_ROOT, path.join(dir, 'node_modules', 'efficientnet-wasm'), 'dir');
  for (const file of files) copyFileSync(path.join(RUNTIMES_DIR, file), path.join(dir, file));
  return dir;
}

/** Deletes a project made by createConsumerProject. The link to the repository is removed first, so it is never followed. */
export function removeConsumerProject(dir: string | undefined): void {
  if (!dir) return;
  const link = path.join(dir, 'node_modules', 'efficientnet-wasm');
  if (existsSync(link)) unlinkSync(link);
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Runs a suite's setup in beforeAll but keeps its error for the tests: each test
 * awaits ready(), which rethrows it. So a runtime that fails to start fails every
 * test, where an error thrown by beforeAll would leave them counted as skipped.
 */
export function deferSetupErrors(setup: () => Promise<void> | void): { ready: () => Promise<void>; settled: () => Promise<void> } {
  let result: Promise<void> | undefined;
  beforeAll(() => {
    result = Promise.resolve().then(setup);
    // The tests report the error through ready().
    result.catch(() => undefined);
  });
  return {
    ready: async () => {
      await result;
    },
    settled: async () => {
      await result?.catch(() => undefined);
    },
  };
}

const liveChildren = new Set<ChildProcess>();

/** Kills a child started by spawnInGroup together with any process it started. */
export function killGroup(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is already gone.
  }
}

// A child left running when the test process exits (a crash, a timeout in a hook) is killed here.
process.on('exit', () => {
  for (const child of liveChildren) killGroup(child);
});

/**
 * Spawns a command in its own process group, so that killGroup also reaches
 * processes that an npm launcher script starts in turn.
 */
export function spawnInGroup(command: string, args: string[], options: SpawnOptions): ChildProcess {
  const child = spawn(command, args, { ...options, detached: true });
  liveChildren.add(child);
  child.on('exit', () => liveChildren.delete(child));
  return child;
}

export interface ExitedChild {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command to completion. Rejects when it cannot start, and kills it
 * (and rejects) when it has not exited after timeoutMs. The limit only stops a
 * hung runtime and asserts nothing about speed.
 */
export function runToExit(
  command: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<ExitedChild> {
  return new Promise((resolve, reject) => {
    const child = spawnInGroup(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      killGroup(child);
      reject(new Error(`${command} ${args.join(' ')} did not exit within ${options.timeoutMs / 1000} s and was killed.\nstderr:\n${stderr}`));
    }, options.timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      killGroup(child);
      reject(new Error(`Failed to start ${command}: ${error.message}`, { cause: error }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Reads the report that run-fixtures.mjs prints as its last stdout line. */
export function parseReport(runtime: string, result: ExitedChild): RuntimeReport {
  const output = `exit code ${result.code}, signal ${result.signal}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
  if (result.code !== 0) throw new Error(`${runtime} failed to classify the fixtures: ${output}`);
  const lastLine = result.stdout.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(lastLine) as RuntimeReport;
  } catch {
    throw new Error(`${runtime} printed no JSON report on its last stdout line: ${output}`);
  }
}

let nodeInputsReport: Promise<RuntimeReport> | undefined;

/**
 * Computes Node's report on the exact-byte inputs in the test process (once per
 * test file), from the same built package (dist/), with the models loaded as
 * run-fixtures.mjs loads them: the flower model from bytes, MobileNetV2 from its path.
 */
export function computeNodeInputsReport(): Promise<RuntimeReport> {
  nodeInputsReport ??= classifyInputsInNode();
  return nodeInputsReport;
}

async function classifyInputsInNode(): Promise<RuntimeReport> {
  const api = await import(pathToFileURL(DIST_ENTRY).href);
  const models = {
    flower: new Uint8Array(readFileSync(path.join(FIXTURES, 'models', MODEL_FILES.flower))),
    mobilenet: path.join(FIXTURES, 'models', MODEL_FILES.mobilenet),
  };
  const report = await classifyFixtures(api, models, async (name: string) => readInput(`inputs/${name}.224x224x3.u8.bin`));
  return { runtime: 'node', version: process.versions.node, ...report };
}

/** Returns the report with only the named model, to compare a run that loaded just that one. */
export function withModelsOnly(report: RuntimeReport, names: string[]): RuntimeReport {
  const models = Object.fromEntries(names.map((name) => [name, report.models![name]]));
  return { ...report, models };
}

export interface ModelServer {
  /** URL of MobileNetV2 on the loopback server. */
  url: string;
  /** Paths requested so far. */
  requests: string[];
  close: () => Promise<void>;
}

/** Serves the MobileNetV2 fixture on 127.0.0.1 at a port chosen by the OS. Other paths get 404. */
export async function serveMobilenet(): Promise<ModelServer> {
  const bytes = readFileSync(path.join(FIXTURES, 'models', MODEL_FILES.mobilenet));
  const requests: string[] = [];
  const server = createServer((request, response) => {
    requests.push(request.url ?? '');
    if (request.url !== '/mobilenet.tflite') {
      response.writeHead(404).end('not found');
      return;
    }
    response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length }).end(bytes);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return { url: `http://127.0.0.1:${port}/mobilenet.tflite`, requests, close };
}

/** Computes Node's report on the photo files, read and decoded by the package from their paths. */
export async function computeNodePhotosReport(): Promise<RuntimeReport> {
  const api = await import(pathToFileURL(DIST_ENTRY).href);
  const model = path.join(FIXTURES, 'models', MODEL_FILES.mobilenet);
  const report = await classifyPhotos(api, model, PHOTO_FILES, async (file: string) => path.join(FIXTURES, 'images', file));
  return { runtime: 'node', version: process.versions.node, ...report };
}

/**
 * Checks Node's own report before other runtimes are compared with it: finite
 * scores, and the same top-1 as TensorFlow Lite wherever TFLite is confident,
 * so that a shared bug cannot make every runtime agree on wrong results.
 */
export function checkNodeReport(node: RuntimeReport): void {
  const referenceByFile = new Map(Object.values(readReference()).map((model) => [path.basename(model.file), model]));
  const checkTop5 = (file: string, input: string, top5: Prediction[], description: string) => {
    expect(top5.length, `Node ${description}: top-5 length`).toBe(5);
    for (const prediction of top5) {
      expect(Number.isFinite(prediction.score), `Node ${description}: score ${prediction.score} is finite`).toBe(true);
    }
    const run = referenceByFile.get(file)?.runs[input];
    expect(run, `tflite-reference.json has a ${file} run on ${input}`).toBeDefined();
    if (run!.top5[0].score >= 0.5) {
      expect(top5[0].index, `Node ${description}: top-1 is ${top5[0].label}, TFLite's is ${run!.top5[0].label}`).toBe(run!.top5[0].index);
    }
  };

  expect(node.support.path, 'Node picks the fastest build it validates').toBe(defaultBuildFor(node.support));
  for (const [name, entry] of Object.entries(node.models ?? {})) {
    const file = (MODEL_FILES as Record<string, string>)[name];
    for (const input of INPUT_NAMES as string[]) checkTop5(file, input, entry.top5[input], `${name} on ${input}`);
  }
  for (const [photo, top5] of Object.entries(node.photos ?? {})) {
    checkTop5(MODEL_FILES.mobilenet, photo.replace(/\.\w+$/, ''), top5, `mobilenet on ${photo}`);
  }
}

/**
 * Asserts that a runtime's report equals Node's: wasm support, model info, and
 * every top-5 (indices, labels, scores) of the inputs or photos in Node's report.
 * The runtime must have run `build`, by default the one that its own
 * wasmSupport() picks, which may differ from the build Node ran.
 *
 * Scores are compared exactly even then. Both fixture models are integer
 * quantized, so every multiply-add in the kernels adds an exact integer
 * product to a sum below 2^24: fusing it rounds nothing, and the relaxed-SIMD,
 * SIMD and scalar builds give bit-identical outputs on them.
 */
export function expectSameAsNode(report: RuntimeReport, node: RuntimeReport, runtime: string, build?: string): void {
  expect(report.runtime).toBe(runtime);
  // NOTE: wasmSupport().threads and info.threads are not compared with Node's: they depend on the
  // runtime (workerd has no worker threads) and on the number of cores.
  const features = ({ webAssembly, simd }: RuntimeReport['support']) => ({ webAssembly, simd });
  expect(features(report.support), `${runtime} wasmSupport(): WebAssembly and SIMD`).toEqual(features(node.support));
  const expectedBuild = defaultBuildFor(report.support);
  expect(report.support.path, `${runtime} picks the fastest build it validates`).toBe(expectedBuild);
  for (const [photo, expected] of Object.entries(node.photos ?? {})) {
    expect(report.photos?.[photo], `${runtime} mobilenet on ${photo}: top-5 (index, label, score) must equal Node's`).toEqual(expected);
  }
  if (!node.models) return;
  expect(Object.keys(report.models ?? {}).sort()).toEqual(Object.keys(node.models).sort());
  for (const [name, expected] of Object.entries(node.models)) {
    const actual = report.models![name];
    expect(actual.info.wasmPath, `${runtime} ${name}: info.wasmPath`).toBe(build ?? expectedBuild);
    const ownFields = { wasmPath: actual.info.wasmPath, threads: actual.info.threads };
    expect(actual.info, `${runtime} ${name}: info apart from wasmPath and threads`).toEqual({ ...expected.info, ...ownFields });
    for (const input of INPUT_NAMES as string[]) {
      expect(actual.top5[input], `${runtime} ${name} on ${input}: top-5 (index, label, score) must equal Node's`).toEqual(
        expected.top5[input],
      );
    }
  }
}
