import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { FIXTURES, FIXTURES_MISSING, fixturesPresent } from '../support/fixtures.js';
import {
  checkNodeReport,
  computeNodeInputsReport,
  computeNodePhotosReport,
  createConsumerProject,
  deferSetupErrors,
  expectSameAsNode,
  parseReport,
  removeConsumerProject,
  requireBuiltPackage,
  runToExit,
  runtimeExecutable,
  serveMobilenet,
  withModelsOnly,
} from './harness.js';

// This limit only stops a hung runtime, since each run takes seconds.
const CHILD_TIMEOUT_MS = 10 * 60 * 1000;

describe.skipIf(!fixturesPresent)('Deno runs the package', () => {
  let project: string;
  let deno: string;

  const setup = deferSetupErrors(() => {
    requireBuiltPackage();
    deno = runtimeExecutable('deno');
    project = createConsumerProject('deno', ['run-fixtures.mjs', 'fixture-runs.mjs']);
  });
  afterAll(async () => {
    await setup.settled();
    removeConsumerProject(project);
  });

  // Deno stays offline: no remote modules, no npm downloads (node_modules is
  // used as it is), no lock file, no update check.
  const run = (permissions: string[], ...scriptArgs: string[]) => {
    const args = ['run', '--no-remote', '--cached-only', '--no-lock', '--no-prompt', ...permissions, 'run-fixtures.mjs', FIXTURES, ...scriptArgs];
    const env = { ...process.env, DENO_DIR: path.join(project, '.deno'), DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1' };
    return runToExit(deno, args, { cwd: project, env, timeoutMs: CHILD_TIMEOUT_MS });
  };

  test('deno starts', async () => {
    await setup.ready();
    const result = await runToExit(deno, ['--version'], { cwd: project, timeoutMs: CHILD_TIMEOUT_MS });
    expect(result.code, `deno --version failed: ${result.stderr}`).toBe(0);
    expect(result.stdout).toMatch(/^deno \d+\.\d+\.\d+/);
    console.log(result.stdout.trim().split('\n')[0]);
  });

  test('top-5 equals Node on fixture inputs', async () => {
    await setup.ready();
    const node = await computeNodeInputsReport();
    checkNodeReport(node);
    // Reading the fixtures is the only permission that pixel inputs need.
    const report = parseReport('deno', await run([`--allow-read=${FIXTURES}`], 'inputs'));
    expectSameAsNode(report, node, 'deno');
    console.log(`Deno ${report.version}: same top-5 as Node ${node.version} on 2 models x 6 inputs`);
  });

  test('model loads from a loopback URL', async () => {
    await setup.ready();
    const node = withModelsOnly(await computeNodeInputsReport(), ['mobilenet']);
    const server = await serveMobilenet();
    try {
      const host = new URL(server.url).host;
      const report = parseReport('deno', await run([`--allow-read=${FIXTURES}`, `--allow-net=${host}`], 'url', server.url));
      expect(server.requests).toEqual(['/mobilenet.tflite']);
      expectSameAsNode(report, node, 'deno');
    } finally {
      await server.close();
    }
  });

  test('top-5 equals Node on photo files', async () => {
    await setup.ready();
    const node = await computeNodePhotosReport();
    checkNodeReport(node);
    // sharp, which decodes JPEG and PNG, reads environment variables and loads a native library.
    const report = parseReport('deno', await run(['--allow-read', '--allow-env', '--allow-ffi'], 'photos'));
    expectSameAsNode(report, node, 'deno');
    console.log(`Deno ${report.version}: same top-5 as Node ${node.version} on ${Object.keys(node.photos!).join(', ')}`);
  });
});

if (!fixturesPresent) console.warn(`Deno smoke test ${FIXTURES_MISSING}`);
