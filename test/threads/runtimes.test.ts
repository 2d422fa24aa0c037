// Threads in Deno and Bun. Both have SharedArrayBuffer and node:worker_threads,
// which the package's pool uses there as in Node. runtime-run.mjs runs one
// small random model in each runtime and in Node, from a project that depends
// on the built package. Every run must give Node's bits, and every process
// must exit by itself, as a Node process does.
import { copyFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import {
  createConsumerProject,
  deferSetupErrors,
  removeConsumerProject,
  requireBuiltPackage,
  runToExit,
  runtimeExecutable,
  type ExitedChild,
} from '../runtimes/harness.js';
import { REPOSITORY_ROOT } from '../support/fixtures.js';

// These limits only stop a hung runtime: a run takes about a second. A run that
// keeps its model loaded gets less time, because a runtime that waits for its
// workers never exits, and the whole limit is then spent.
const CHILD_TIMEOUT_MS = 60_000;
const KEPT_MODEL_TIMEOUT_MS = 15_000;
const SCRIPT = 'runtime-run.mjs';

interface RunReport {
  threads: number;
  workerSchemes: string[];
  workersWhileLoaded: number;
  workersAtEnd: number;
  outputBits: number[];
  top5: { index: number; label: string; score: number }[];
  warnings: string[];
}

type Runtime = 'node' | 'deno' | 'bun';

describe('threads in Deno and Bun', () => {
  let project: string;
  const executables = new Map<Runtime, string>();

  const setup = deferSetupErrors(() => {
    requireBuiltPackage();
    executables.set('node', process.execPath);
    executables.set('deno', runtimeExecutable('deno'));
    executables.set('bun', runtimeExecutable('bun'));
    project = createConsumerProject('threads', []);
    copyFileSync(path.join(REPOSITORY_ROOT, 'test', 'threads', SCRIPT), path.join(project, SCRIPT));
  });
  afterAll(async () => {
    await setup.settled();
    removeConsumerProject(project);
  });

  /** Runs the script in a runtime, offline and without telemetry, with numThreads and 'dispose' or 'keep'. */
  async function run(runtime: Runtime, numThreads: string, ending: 'dispose' | 'keep' = 'dispose'): Promise<ExitedChild> {
    await setup.ready();
    const executable = executables.get(runtime)!;
    const env = { ...process.env, NO_COLOR: '1' };
    let args: string[];
    if (runtime === 'deno') {
      // No remote modules or npm downloads, no lock file, no update check; reading files is the only permission.
      Object.assign(env, { DENO_DIR: path.join(project, '.deno'), DENO_NO_UPDATE_CHECK: '1' });
      args = ['run', '--no-remote', '--cached-only', '--no-lock', '--no-prompt', '--allow-read', SCRIPT, numThreads, ending];
    } else if (runtime === 'bun') {
      Object.assign(env, { DO_NOT_TRACK: '1', BUN_RUNTIME_TRANSPILER_CACHE_PATH: '0' });
      args = ['--no-install', SCRIPT, numThreads, ending];
    } else {
      args = [SCRIPT, numThreads, ending];
    }
    const timeoutMs = ending === 'keep' ? KEPT_MODEL_TIMEOUT_MS : CHILD_TIMEOUT_MS;
    return runToExit(executable, args, { cwd: project, env, timeoutMs });
  }

  /** Checks that a run's process exited by itself with code 0, and parses the JSON report on its last stdout line. */
  function reportOf(result: ExitedChild, context: string): RunReport {
    const output = `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
    expect(result.signal, `${context}: killed\n${output}`).toBeNull();
    expect(result.code, `${context}: exit code\n${output}`).toBe(0);
    return JSON.parse(result.stdout.trim().split('\n').at(-1)!) as RunReport;
  }

  let nodeReport: Promise<RunReport> | undefined;

  /** Node's one-thread run, which every other run must equal bit for bit. */
  function nodeReference(): Promise<RunReport> {
    nodeReport ??= run('node', '1').then((result) => reportOf(result, 'node, 1 thread'));
    return nodeReport;
  }

  test('node runs it on 2 threads', async () => {
    const reference = await nodeReference();
    expect(reference.threads).toBe(1);
    const report = reportOf(await run('node', '2'), 'node, 2 threads');
    expect(report.threads).toBe(2);
    expect(report.workerSchemes, 'Web Workers started in Node').toEqual([]);
    expect(report.workersWhileLoaded).toBe(1);
    expect(report.outputBits, 'predict() bits on 2 threads against 1').toEqual(reference.outputBits);
    expect(report.top5).toEqual(reference.top5);
  });

  describe.each(['deno', 'bun'] as const)('%s', (runtime) => {
    test('numThreads 2 and 3 run on worker_threads', async () => {
      const reference = await nodeReference();
      for (const threads of [1, 2, 3]) {
        const report = reportOf(await run(runtime, String(threads)), `${runtime}, ${threads} threads`);
        expect(report.threads, `${runtime}: info.threads with numThreads ${threads}`).toBe(threads);
        // The pool uses node:worker_threads here, whose workers can be unreferenced, so no Web Worker starts.
        expect(report.workerSchemes, `${runtime}: Web Workers started`).toEqual([]);
        expect(report.workersWhileLoaded).toBe(threads - 1);
        expect(report.workersAtEnd, `${runtime}: workers after dispose`).toBe(0);
        expect(report.warnings).toEqual([]);
        expect(report.outputBits, `${runtime}: predict() bits on ${threads} threads against Node on 1`).toEqual(reference.outputBits);
        expect(report.top5, `${runtime}: top-5 on ${threads} threads`).toEqual(reference.top5);
      }
    });

    test('exits without dispose', async () => {
      // Node's workers are unreferenced, so a script that never disposes its model still ends; here too.
      const report = reportOf(await run(runtime, '2', 'keep'), `${runtime}, 2 threads, model never disposed`);
      expect(report.workersAtEnd).toBe(1);
    });
  });

  test('node exits without dispose', async () => {
    const report = reportOf(await run('node', '2', 'keep'), 'node, 2 threads, model never disposed');
    expect(report.workersAtEnd).toBe(1);
  });
});
