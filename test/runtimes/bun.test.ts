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

describe.skipIf(!fixturesPresent)('Bun runs the package', () => {
  let project: string;
  let bun: string;

  const setup = deferSetupErrors(() => {
    requireBuiltPackage();
    bun = runtimeExecutable('bun');
    project = createConsumerProject('bun', ['run-fixtures.mjs', 'fixture-runs.mjs']);
  });
  afterAll(async () => {
    await setup.settled();
    removeConsumerProject(project);
  });

  // --no-install: resolve from node_modules only, never install from the registry.
  // No telemetry or crash reports, and no transpiler cache written outside the project.
  const run = (...scriptArgs: string[]) => {
    const env = { ...process.env, DO_NOT_TRACK: '1', BUN_RUNTIME_TRANSPILER_CACHE_PATH: '0', NO_COLOR: '1' };
    const args = ['--no-install', 'run-fixtures.mjs', FIXTURES, ...scriptArgs];
    return runToExit(bun, args, { cwd: project, env, timeoutMs: CHILD_TIMEOUT_MS });
  };

  test('bun starts', async () => {
    await setup.ready();
    const result = await runToExit(bun, ['--version'], { cwd: project, timeoutMs: CHILD_TIMEOUT_MS });
    expect(result.code, `bun --version failed: ${result.stderr}`).toBe(0);
    expect(result.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    console.log(`bun ${result.stdout.trim()}`);
  });

  test('top-5 equals Node on fixture inputs', async () => {
    await setup.ready();
    const node = await computeNodeInputsReport();
    checkNodeReport(node);
    const report = parseReport('bun', await run('inputs'));
    expectSameAsNode(report, node, 'bun');
    console.log(`Bun ${report.version}: same top-5 as Node ${node.version} on 2 models x 6 inputs`);
  });

  test('model loads from a loopback URL', async () => {
    await setup.ready();
    const node = withModelsOnly(await computeNodeInputsReport(), ['mobilenet']);
    const server = await serveMobilenet();
    try {
      const report = parseReport('bun', await run('url', server.url));
      expect(server.requests).toEqual(['/mobilenet.tflite']);
      expectSameAsNode(report, node, 'bun');
    } finally {
      await server.close();
    }
  });

  test('top-5 equals Node on photo files', async () => {
    await setup.ready();
    const node = await computeNodePhotosReport();
    checkNodeReport(node);
    const report = parseReport('bun', await run('photos'));
    expectSameAsNode(report, node, 'bun');
    console.log(`Bun ${report.version}: same top-5 as Node ${node.version} on ${Object.keys(node.photos!).join(', ')}`);
  });
});

if (!fixturesPresent) console.warn(`Bun smoke test ${FIXTURES_MISSING}`);
