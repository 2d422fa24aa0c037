// Child process that runs one runtime on one network for bench/harness.mjs,
// so that the peak RSS it reports belongs to that runtime alone.
//
// Started by child_process.fork with one argument, a JSON object
// { runtime, network, files, outputGrid, warmupMs, reference }. It loads the
// model, then replies to the parent's messages over IPC:
//   (on start)            -> ready: cold start split into import, load and
//                            first run, the peak RSS after it, the active build
//                            and thread count, the
//                            first outputs of each batch size, and each image's
//                            batch-1 output (for the batched runs' agreement)
//   { type: 'warmup' }    -> warm: each batch size ran for warmupMs, not recorded
//   { type: 'time', batch, ms, minRuns } -> samples: per-run ms, at least
//                            minRuns runs and at least ms in total
//   { type: 'finish' }    -> finished: peak RSS, then the process exits
// A failure is sent as { type: 'error', message } before exiting with code 1.
import { readFileSync } from 'node:fs';
import { BATCH, NETWORKS, makeImage } from './models.mjs';
import { findAdapter } from './peers.mjs';

const config = JSON.parse(process.argv[2]);
const adapter = findAdapter(config.runtime);
const network = NETWORKS[config.network];

function send(message) {
  return new Promise((resolve, reject) => process.send(message, (error) => (error ? reject(error) : resolve())));
}

/** Makes the images of a batch: image 0 alone for batch 1, images 0..7 for batch 8. */
function imagesFor(batch) {
  return Array.from({ length: batch }, (_, index) => makeImage(network, index));
}

/**
 * Returns this process's peak resident set size. On Linux, getrusage's maxRSS
 * (process.resourceUsage) survives execve, so a forked child reports at least
 * the parent's RSS at the fork: every child showed the harness's 139 MiB.
 * /proc/self/status VmHWM belongs to this process's own memory map only.
 */
function peakRssBytes() {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (match) return Number(match[1]) * 1024;
  } catch {
    // Not Linux: fall back to maxRSS, which is in kilobytes.
  }
  return process.resourceUsage().maxRSS * 1024;
}

async function start() {
  const images = new Map(adapter.batches.map((batch) => [batch, imagesFor(batch)]));

  const importStart = performance.now();
  const runtime = await adapter.importRuntime();
  const loadStart = performance.now();
  const handle = await adapter.load(runtime, { network, files: config.files, outputGrid: config.outputGrid });
  const firstStart = performance.now();
  const runBatchOne = adapter.prepare(handle, images.get(1));
  const firstOutput = await runBatchOne();
  const firstEnd = performance.now();
  // Before the batch runs allocate their larger tensors, so the peak at batch 1 can be reported apart.
  const batchOnePeakRssBytes = peakRssBytes();

  const runners = new Map([[1, runBatchOne]]);
  const outputs = { 1: firstOutput };
  const firstMs = { 1: firstEnd - firstStart };
  for (const batch of adapter.batches.filter((size) => size !== 1)) {
    const run = adapter.prepare(handle, images.get(batch));
    const start = performance.now();
    outputs[batch] = await run();
    firstMs[batch] = performance.now() - start;
    runners.set(batch, run);
  }
  // Each image of the batch run alone: the parent checks the batched output against
  // these, and the reference runtime's serve as the reference for every runtime.
  const singleOutputs = [];
  if (config.reference || adapter.batches.includes(BATCH)) {
    for (let index = 0; index < BATCH; index++) {
      singleOutputs.push(await adapter.prepare(handle, [makeImage(network, index)])());
    }
  }

  await send({
    type: 'ready',
    details: handle.details,
    active: handle.active,
    batchOnePeakRssBytes,
    importMs: loadStart - importStart,
    loadMs: firstStart - loadStart,
    firstMs,
    coldMs: firstEnd - importStart,
    outputs,
    singleOutputs,
  });
  return runners;
}

/** Runs repeatedly for at least ms and minRuns runs, reading every output; returns per-run times in ms. */
async function time(run, ms, minRuns) {
  const samples = [];
  let checksum = 0;
  const until = performance.now() + ms;
  while (performance.now() < until || samples.length < minRuns) {
    const begin = performance.now();
    const output = await run();
    samples.push(performance.now() - begin);
    checksum += output[0];
  }
  if (!Number.isFinite(checksum)) throw new Error(`${adapter.id} produced a non-finite output while timing.`);
  return samples;
}

async function main() {
  const runners = await start();
  process.on('message', async (message) => {
    try {
      if (message.type === 'warmup') {
        for (const run of runners.values()) await time(run, config.warmupMs, 2);
        await send({ type: 'warm' });
      } else if (message.type === 'time') {
        const samples = await time(runners.get(message.batch), message.ms, message.minRuns);
        await send({ type: 'samples', samples });
      } else if (message.type === 'finish') {
        await send({ type: 'finished', peakRssBytes: peakRssBytes() });
        process.exit(0);
      }
    } catch (error) {
      await send({ type: 'error', message: error.stack ?? String(error) });
      process.exit(1);
    }
  });
}

main().catch(async (error) => {
  await send({ type: 'error', message: error.stack ?? String(error) });
  process.exit(1);
});
