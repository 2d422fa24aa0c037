// Runs every runtime of a network in its own child process (bench/worker.mjs).
// Before any timing, it checks that their outputs agree with this package's,
// and that each batched output agrees with the same runtime's batch-1 outputs.
// Then it times them in interleaved rounds. Each round gives every runtime the
// same share of the time, in a rotated order, so load that comes and goes on
// the machine spreads over all of them, the 1-thread and 2-thread runs alike.
import { fork } from 'node:child_process';
import path from 'node:path';
import { BATCH, root } from './models.mjs';
import { plural } from './peers.mjs';

const workerFile = path.join(root, 'bench', 'worker.mjs');

/**
 * Agreement limits against this package's SIMD output on the same input.
 * Float networks compare log-probabilities after removing their mean, which
 * equals comparing logits up to the constant that softmax drops. On the B0
 * of this bench, the f32 peers differed from this package by at most 5e-6,
 * because they sum in other orders. The quantized
 * networks compare dequantized scores in steps of the output grid: one step
 * of rounding difference is allowed.
 */
export const TOLERANCES = {
  b0: { kind: 'logits', maxAbs: 1e-3 },
  lite0: { kind: 'quantized', maxSteps: 1 },
  mobilenet: { kind: 'quantized', maxSteps: 1 },
};

/** A child process wrapped so that each request awaits the next message. */
class Worker {
  constructor(adapter, config) {
    this.adapter = adapter;
    this.queue = [];
    this.waiting = [];
    this.exited = null;
    this.child = fork(workerFile, [JSON.stringify(config)], {
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
      execArgv: adapter.execArgv ?? [],
    });
    this.stderr = '';
    this.child.stderr.on('data', (chunk) => {
      this.stderr += chunk;
    });
    this.child.on('message', (message) => this.deliver(message));
    this.child.on('exit', (code, signal) => {
      this.exited = { code, signal };
      this.deliver({ type: 'error', message: `worker exited with ${signal ?? `code ${code}`}. ${this.stderr.trim()}` });
    });
  }

  deliver(message) {
    const waiter = this.waiting.shift();
    if (waiter) waiter(message);
    else this.queue.push(message);
  }

  next() {
    if (this.queue.length > 0) return Promise.resolve(this.queue.shift());
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Sends a request (or none) and returns the reply of the expected type, or throws with the worker's error. */
  async request(message, expected) {
    if (message) {
      if (this.exited) throw new Error(`${this.adapter.id} worker already exited.`);
      this.child.send(message);
    }
    const reply = await this.next();
    if (reply.type === 'error') throw new Error(`${this.adapter.id}: ${reply.message}`);
    if (reply.type !== expected) throw new Error(`${this.adapter.id}: expected a ${expected} message, but got ${reply.type}.`);
    return reply;
  }

  kill() {
    if (!this.exited) this.child.kill();
  }
}

/** Percentile of sorted values with linear interpolation, p in [0, 1]. */
function percentile(sorted, p) {
  const position = (sorted.length - 1) * p;
  const low = Math.floor(position);
  const high = Math.ceil(position);
  return sorted[low] + (sorted[high] - sorted[low]) * (position - low);
}

export function summarize(samples, batch) {
  const sorted = [...samples].sort((a, b) => a - b);
  const median = percentile(sorted, 0.5);
  return {
    runs: sorted.length,
    median,
    p10: percentile(sorted, 0.1),
    p90: percentile(sorted, 0.9),
    min: sorted[0],
    max: sorted[sorted.length - 1],
    totalMs: sorted.reduce((a, b) => a + b, 0),
    imagesPerSecond: (1000 * batch) / median,
  };
}

/** Centered log-probabilities: the logits up to the constant that softmax removes. */
function centeredLogits(probabilities, offset, classes) {
  const logs = new Float64Array(classes);
  let mean = 0;
  for (let i = 0; i < classes; i++) {
    logs[i] = Math.log(probabilities[offset + i]);
    mean += logs[i] / classes;
  }
  return logs.map((value) => value - mean);
}

function argmax(values, offset, classes) {
  let best = 0;
  for (let i = 1; i < classes; i++) if (values[offset + i] > values[offset + best]) best = i;
  return best;
}

/**
 * Compares a runtime's output for `images` images with the reference outputs,
 * one per image. Returns the largest error, in the tolerance's unit, whether
 * it passes, and how many images have the same top-1 class.
 */
export function compareOutputs(output, references, tolerance, outputGrid) {
  const classes = references[0].length;
  if (output.length !== references.length * classes) {
    // A NaN error fails the check; the report prints it as NaN.
    const limit = tolerance.kind === 'logits' ? tolerance.maxAbs : tolerance.maxSteps;
    return { ok: false, error: Number.NaN, limit, sameTop: 0, images: references.length };
  }
  let error = 0;
  let sameTop = 0;
  for (let image = 0; image < references.length; image++) {
    const offset = image * classes;
    const reference = references[image];
    if (tolerance.kind === 'logits') {
      const actual = centeredLogits(output, offset, classes);
      const expected = centeredLogits(reference, 0, classes);
      for (let i = 0; i < classes; i++) {
        const difference = Math.abs(actual[i] - expected[i]);
        // NaN fails: the comparison below is false for it, so it becomes the error.
        error = difference <= error ? error : difference;
      }
    } else {
      for (let i = 0; i < classes; i++) {
        const difference = Math.abs(output[offset + i] - reference[i]) / outputGrid.scale;
        error = difference <= error ? error : difference;
      }
    }
    if (argmax(output, offset, classes) === argmax(reference, 0, classes)) sameTop += 1;
  }
  const limit = tolerance.kind === 'logits' ? tolerance.maxAbs : tolerance.maxSteps;
  return { ok: error <= limit, error, limit, sameTop, images: references.length };
}

/**
 * Returns the order of one round. Runs of the same runtime at different thread
 * counts form a group (the adapter's `group`), so they stay next to each other.
 * The groups rotate by one place per round, and a group's runs swap places every
 * other round, so no run is always timed first.
 */
export function roundOrder(timed, round) {
  const groups = [];
  for (const entry of timed) {
    const key = entry.worker.adapter.group ?? entry.worker.adapter.id;
    const group = groups.find((candidate) => candidate.key === key);
    if (group) group.entries.push(entry);
    else groups.push({ key, entries: [entry] });
  }
  const order = [];
  for (let index = 0; index < groups.length; index++) {
    const { entries } = groups[(index + round) % groups.length];
    order.push(...(round % 2 === 0 ? entries : [...entries].reverse()));
  }
  return order;
}

/** Median of unsorted values. */
function median(values) {
  return percentile([...values].sort((a, b) => a - b), 0.5);
}

/**
 * Measures the runtimes of one network. Returns one result per adapter: cold
 * start, the active build and thread count, and the agreement checks per batch
 * size. A batch is checked against the reference and against the runtime's own
 * batch-1 outputs. When the checks pass, the result also has timing summaries
 * and per-round medians per batch size, and peak RSS; else the error that
 * stopped it.
 */
export async function benchmarkNetwork({ network, adapters, files, outputGrid, options, log }) {
  const results = [];
  const workers = [];
  const tolerance = TOLERANCES[network.id];
  let references = null;

  // Cold starts run one at a time, so no load of another runtime overlaps them.
  for (const adapter of adapters) {
    const result = {
      adapter,
      details: null,
      active: null,
      cold: null,
      check: {},
      selfCheck: {},
      timing: {},
      roundMedians: {},
      batchOnePeakRssBytes: null,
      peakRssBytes: null,
      error: null,
    };
    results.push(result);
    const reference = adapter.id === 'ours-simd';
    const worker = new Worker(adapter, { runtime: adapter.id, network: network.id, files, outputGrid, warmupMs: options.warmupMs, reference });
    try {
      const ready = await worker.request(null, 'ready');
      result.details = ready.details;
      result.active = ready.active;
      result.batchOnePeakRssBytes = ready.batchOnePeakRssBytes;
      result.cold = { importMs: ready.importMs, loadMs: ready.loadMs, firstMs: ready.firstMs, coldMs: ready.coldMs };
      if (reference) references = ready.singleOutputs;
      if (!references) throw new Error('the reference runtime (ours-simd) must load first and did not.');
      for (const [batch, output] of Object.entries(ready.outputs)) {
        result.check[batch] = compareOutputs(output, references.slice(0, Number(batch)), tolerance, outputGrid);
        if (Number(batch) > 1) result.selfCheck[batch] = compareOutputs(output, ready.singleOutputs.slice(0, Number(batch)), tolerance, outputGrid);
      }
      const failed = [
        ...Object.entries(result.check).map(([batch, check]) => [`with efficientnet-wasm (simd, 1 thread) at batch ${batch}`, check]),
        ...Object.entries(result.selfCheck).map(([batch, check]) => [`at batch ${batch} with its own batch-1 outputs`, check]),
      ].filter(([, check]) => !check.ok);
      if (failed.length > 0) {
        const [where, check] = failed[0];
        result.error = `disagrees ${where}: max error ${check.error} > ${check.limit}; not timed`;
        log(`  ${adapter.id}: ${result.error}`);
        await finish(worker, result);
        continue;
      }
      const largest = Math.max(...[...Object.values(result.check), ...Object.values(result.selfCheck)].map((check) => check.error));
      const active = `${result.active.build}, ${plural(result.active.threads, 'thread')}`;
      log(`  ${adapter.id} (${active}): cold start ${ready.coldMs.toFixed(0)} ms, first run ${ready.firstMs[1].toFixed(1)} ms, agrees (max error ${largest.toExponential(2)})`);
      await worker.request({ type: 'warmup' }, 'warm');
      workers.push({ worker, result });
    } catch (error) {
      result.error = error.message.split('\n')[0];
      log(`  ${adapter.id}: failed: ${result.error}`);
      worker.kill();
      if (reference) break;
    }
  }

  // Interleaved rounds per batch size; a runtime that fails while timing keeps the samples it has.
  // Each round's median is kept too, so two runtimes can be compared round by round.
  for (const batch of [1, BATCH]) {
    const timed = workers.filter(({ worker, result }) => worker.adapter.batches.includes(batch) && !result.error);
    const samples = new Map(timed.map(({ result }) => [result, []]));
    for (const { result } of timed) result.roundMedians[batch] = new Array(options.rounds).fill(null);
    for (let round = 0; round < options.rounds; round++) {
      const order = roundOrder(timed, round);
      for (const { worker, result } of order) {
        if (result.error) continue;
        try {
          const reply = await worker.request({ type: 'time', batch, ms: options.minMs / options.rounds, minRuns: 2 }, 'samples');
          samples.get(result).push(...reply.samples);
          result.roundMedians[batch][round] = median(reply.samples);
        } catch (error) {
          result.error = `failed while timing batch ${batch}: ${error.message.split('\n')[0]}`;
          log(`  ${worker.adapter.id}: ${result.error}`);
        }
      }
    }
    for (const [result, values] of samples) {
      if (values.length > 0) result.timing[batch] = { first: result.cold.firstMs[batch], ...summarize(values, batch) };
    }
  }

  for (const { worker, result } of workers) await finish(worker, result);
  return results;
}

async function finish(worker, result) {
  try {
    const reply = await worker.request({ type: 'finish' }, 'finished');
    result.peakRssBytes = reply.peakRssBytes;
  } catch (error) {
    result.error ??= error.message.split('\n')[0];
    worker.kill();
  }
}
