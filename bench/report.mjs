// Machine description and the BENCHMARKS.md page written from the results
// of bench/harness.mjs.
import os from 'node:os';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { BATCH, root } from './models.mjs';
import { TOLERANCES } from './harness.mjs';
import { MULTI_THREADS, packageVersion, plural } from './peers.mjs';

/**
 * The speed goals on EfficientNet-B0, as ratios of medians: 2 threads at least
 * 1.8x faster than 1 thread (each SIMD build), and the relaxed-SIMD build at
 * least 1.2x faster than the SIMD build on 1 thread.
 */
export const SPEED_GOALS = { threads: 1.8, relaxedSimd: 1.2 };

/** The network whose rows the speed goals apply to. */
const GOAL_NETWORK = 'b0';

/** Name of the reference row, which the agreement and the ratio columns compare with. */
const REFERENCE = 'efficientnet-wasm (simd, 1 thread)';

/** CPU, cores, memory, Node, V8 and OS of this machine, and its load average now. */
export function describeMachine() {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model?.trim() ?? 'unknown CPU',
    cores: cpus.length,
    availableParallelism: os.availableParallelism(),
    memoryGiB: os.totalmem() / 2 ** 30,
    node: process.version,
    v8: process.versions.v8,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    loadAverage: os.loadavg(),
  };
}

function ms(value) {
  if (value === undefined || value === null) return '–';
  return value >= 100 ? value.toFixed(0) : value.toFixed(1);
}

function mib(bytes) {
  return bytes ? `${(bytes / 2 ** 20).toFixed(0)} MiB` : '–';
}

function range(low, high) {
  return `${ms(low)}..${ms(high)}`;
}

function loads(values) {
  return values.map((value) => value.toFixed(2)).join(', ');
}

/** True for this package's rows. */
function isOurs(result) {
  return result.adapter.id.startsWith('ours-');
}

/** This package's timed result with the given active build and thread count (from model.info), or undefined. */
function findOurs(results, build, threads, batch) {
  return results.find(
    (result) => isOurs(result) && result.active?.build === build && result.active.threads === threads && result.timing[batch],
  );
}

/**
 * Formats this package's median (SIMD build, at the runtime's thread count)
 * divided by the runtime's median at a batch size: below 1 means this package
 * is faster.
 */
function ratio(results, result, batch) {
  const threads = result.active?.threads;
  const ours = threads === undefined ? undefined : findOurs(results, 'simd', threads, batch)?.timing[batch].median;
  const theirs = result.timing[batch]?.median;
  if (!ours || !theirs) return '–';
  return (ours / theirs).toFixed(2);
}

/** Returns the build that ran, or the requested one for a runtime that did not load. */
function buildText(result) {
  return result.active?.build ?? `${result.adapter.requested.build} (requested)`;
}

/** Returns the thread count that ran, or the requested one for a runtime that did not load. */
function threadsText(result) {
  return result.active ? String(result.active.threads) : `${result.adapter.requested.threads} (requested)`;
}

/** Returns a runtime's name with its active build and thread count, e.g. "efficientnet-wasm (simd, 2 threads)". */
export function rowName(result) {
  const threads = result.active?.threads ?? result.adapter.requested.threads;
  return `${result.adapter.label} (${result.active?.build ?? result.adapter.requested.build}, ${plural(threads, 'thread')})`;
}

function versionsOf(adapter) {
  if (adapter.packages.length === 0) {
    return `efficientnet-wasm ${JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).version}`;
  }
  return adapter.packages.map((name) => `${name} ${packageVersion(name) ?? '(not installed)'}`).join(', ');
}

function errorText(check) {
  return `${Number.isFinite(check.error) ? check.error.toExponential(1) : check.error}${check.ok ? '' : ' FAIL'}`;
}

function checkText(result) {
  const entries = Object.entries(result.check);
  if (entries.length === 0) return '–';
  const parts = entries.map(([batch, check]) => `batch ${batch}: ${errorText(check)}, top-1 ${check.sameTop}/${check.images}`);
  for (const [batch, check] of Object.entries(result.selfCheck ?? {})) parts.push(`batch ${batch} vs its own batch 1: ${errorText(check)}`);
  return parts.join('; ');
}

/** Short text for how a runtime runs a batch, for the batch table. */
function batchModeText(adapter) {
  return adapter.batchMode.split(':')[0];
}

/**
 * Returns the ratio of two results' medians at a batch size (first ÷ second),
 * and the range of the same ratio taken round by round. Each round times both
 * runtimes close together, so the per-round ratios show how much the machine's
 * load moved the comparison.
 */
function compareMedians(first, second, batch) {
  const a = first.timing[batch];
  const b = second.timing[batch];
  const perRound = [];
  const roundsA = first.roundMedians[batch] ?? [];
  const roundsB = second.roundMedians[batch] ?? [];
  for (let round = 0; round < roundsA.length; round++) {
    if (roundsA[round] !== null && roundsB[round] !== null && roundsB[round] !== undefined) perRound.push(roundsA[round] / roundsB[round]);
  }
  return {
    ratio: a.median / b.median,
    low: perRound.length > 0 ? Math.min(...perRound) : null,
    high: perRound.length > 0 ? Math.max(...perRound) : null,
    medians: `${ms(a.median)} / ${ms(b.median)} ms`,
  };
}

/** Returns the candidate with the lowest median at batch size `batch`, or undefined when none was timed. */
function fastest(candidates, batch) {
  return candidates.filter((result) => result.timing[batch]).sort((a, b) => a.timing[batch].median - b.timing[batch].median)[0];
}

/**
 * Builds the rows of the speed-goal summary for one network: 2 threads against 1 thread
 * per SIMD build, relaxed SIMD against SIMD on 1 thread, and batch-8
 * throughput of this package against the fastest wasm peer at each thread count.
 */
export function goalRows(network, results) {
  const rows = [];
  const goals = network.id === GOAL_NETWORK;
  const add = (comparison, goal, compared) => {
    const range = compared.low === null ? '–' : `${compared.low.toFixed(2)}..${compared.high.toFixed(2)}`;
    let met = '–';
    let goalText = '–';
    if (goal !== null) {
      met = compared.ratio >= goal ? 'yes' : 'no';
      goalText = `≥ ${goal}x`;
    }
    rows.push({ comparison, goal: goalText, ratio: `${compared.ratio.toFixed(2)}x`, range, medians: compared.medians, met });
  };
  const missing = (comparison, reason) => rows.push({ comparison, goal: '–', ratio: '–', range: '–', medians: '–', met: reason });

  for (const build of ['simd', 'relaxed-simd']) {
    const singleThread = findOurs(results, build, 1, 1);
    const multiThread = findOurs(results, build, MULTI_THREADS, 1);
    const comparison = `${build}: ${MULTI_THREADS} threads vs 1 thread, batch 1`;
    if (singleThread && multiThread) {
      add(comparison, goals ? SPEED_GOALS.threads : null, compareMedians(singleThread, multiThread, 1));
    } else {
      const threads = singleThread ? MULTI_THREADS : 1;
      missing(comparison, `not measured: no timed ${build} run that model.info reports on ${plural(threads, 'thread')}`);
    }
  }
  const simd = findOurs(results, 'simd', 1, 1);
  const relaxed = findOurs(results, 'relaxed-simd', 1, 1);
  if (simd && relaxed) add('relaxed-simd vs simd, 1 thread, batch 1', goals ? SPEED_GOALS.relaxedSimd : null, compareMedians(simd, relaxed, 1));
  else missing('relaxed-simd vs simd, 1 thread, batch 1', 'not measured: a 1-thread run of either build is missing');

  // A peer's own 2-thread gain is a control: when it is low too, the run did not have two free cores.
  const peerGroups = new Set(results.filter((result) => !isOurs(result) && result.adapter.group).map((result) => result.adapter.group));
  for (const group of peerGroups) {
    const members = results.filter((result) => result.adapter.group === group && result.timing[1]);
    const singleThread = members.find((result) => result.active.threads === 1);
    const multiThread = members.find((result) => result.active.threads === MULTI_THREADS);
    if (singleThread && multiThread) {
      add(`control: ${singleThread.adapter.label}, ${MULTI_THREADS} threads vs 1 thread, batch 1`, null, compareMedians(singleThread, multiThread, 1));
    }
  }

  for (const threads of [1, MULTI_THREADS]) {
    const atThreads = results.filter((result) => result.active?.threads === threads);
    const ours = fastest(atThreads.filter(isOurs), BATCH);
    const peer = fastest(atThreads.filter((result) => !isOurs(result) && result.active.build !== 'native'), BATCH);
    const comparison = `batch ${BATCH} images/s, ${plural(threads, 'thread')}: fastest efficientnet-wasm vs fastest wasm peer`;
    if (ours && peer) {
      const compared = compareMedians(peer, ours, BATCH);
      compared.medians = `${ours.timing[BATCH].imagesPerSecond.toFixed(1)} (efficientnet-wasm ${ours.active.build}) / ${peer.timing[BATCH].imagesPerSecond.toFixed(1)} (${peer.adapter.label}) images/s`;
      add(comparison, null, compared);
    } else {
      missing(comparison, `not measured: ${ours ? 'no wasm peer' : 'no efficientnet-wasm run'} at batch ${BATCH} on ${plural(threads, 'thread')}`);
    }
  }
  return rows;
}

function goalSection(sections) {
  const lines = [
    '## Speed goals',
    '',
    `The goals are set on EfficientNet-B0: ${MULTI_THREADS} threads at least ${SPEED_GOALS.threads}x faster than 1 thread for each SIMD build, and the relaxed-SIMD build at least ${SPEED_GOALS.relaxedSimd}x faster than the SIMD build on 1 thread. The other networks show the same ratios without a goal. The thread counts and builds are those that model.info reported. The control rows give a peer\'s own gain from ${MULTI_THREADS} threads: when it is low as well, other work on the machine took a core during the run.`,
    '',
    '"Ratio" divides the first median by the second (for images/s, this package\'s rate by the peer\'s); "per round" gives the lowest and highest of the same ratio taken from each round\'s medians, because each round times the two runs close together.',
    '',
    '| network | comparison | goal | ratio | per round | medians or rates | met |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const { network, results } of sections) {
    for (const row of goalRows(network, results)) {
      lines.push(`| ${network.short} | ${row.comparison} | ${row.goal} | ${row.ratio} | ${row.range} | ${row.medians} | ${row.met} |`);
    }
  }
  return lines.join('\n');
}

function networkSection(network, results) {
  const lines = [`### ${network.title}`, ''];
  const tolerance = TOLERANCES[network.id];
  lines.push(
    tolerance.kind === 'logits'
      ? `Agreement: largest difference of logits (centered log-probabilities) against ${REFERENCE}, limit ${tolerance.maxAbs}.`
      : `Agreement: largest difference of dequantized scores against ${REFERENCE}, in output quantization steps, limit ${tolerance.maxSteps}.`,
    '',
    'Batch 1:',
    '',
    '| runtime | build | threads | cold start ms (import + load + first) | first run ms | median ms | p10..p90 ms | min..max ms | runs | images/s | ours ÷ runtime | peak RSS after batch 1 / at the end | agreement |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  );
  for (const result of results) {
    const cold = result.cold;
    const timing = result.timing[1];
    const coldText = cold ? `${ms(cold.coldMs)} (${ms(cold.importMs)} + ${ms(cold.loadMs)} + ${ms(cold.firstMs[1])})` : '–';
    lines.push(
      `| ${result.adapter.label} | ${buildText(result)} | ${threadsText(result)} | ${coldText} | ${ms(cold?.firstMs[1])} | ${ms(timing?.median)} | ` +
        `${timing ? range(timing.p10, timing.p90) : '–'} | ${timing ? range(timing.min, timing.max) : '–'} | ${timing?.runs ?? '–'} | ` +
        `${timing ? timing.imagesPerSecond.toFixed(1) : '–'} | ${ratio(results, result, 1)} | ${mib(result.batchOnePeakRssBytes)} / ${mib(result.peakRssBytes)} | ${checkText(result)} |`,
    );
  }
  const batched = results.filter((result) => result.timing[BATCH]);
  if (batched.length > 0) {
    const single = results.filter((result) => result.timing[1] && !result.timing[BATCH] && !result.error);
    lines.push(
      '',
      `Batch ${BATCH}:${single.length > 0 ? ` ${single.map(rowName).join(', ')} ran batch 1 only.` : ''}`,
      '',
      '| runtime | build | threads | how the batch runs | first run ms | median ms per batch | p10..p90 ms | min..max ms | runs | images/s | images/s ÷ batch 1 | ours ÷ runtime |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|',
    );
    for (const result of batched) {
      const timing = result.timing[BATCH];
      const gain = result.timing[1] ? (timing.imagesPerSecond / result.timing[1].imagesPerSecond).toFixed(2) : '–';
      lines.push(
        `| ${result.adapter.label} | ${buildText(result)} | ${threadsText(result)} | ${batchModeText(result.adapter)} | ${ms(timing.first)} | ${ms(timing.median)} | ` +
          `${range(timing.p10, timing.p90)} | ${range(timing.min, timing.max)} | ${timing.runs} | ${timing.imagesPerSecond.toFixed(1)} | ${gain} | ${ratio(results, result, BATCH)} |`,
      );
    }
  }
  const failed = results.filter((result) => result.error);
  if (failed.length > 0) {
    lines.push('', 'Not timed or incomplete:', '');
    for (const result of failed) lines.push(`- ${rowName(result)}: ${result.error}`);
  }
  lines.push('', 'Setup of each runtime:', '');
  for (const result of results) {
    const batch = result.adapter.batches.includes(BATCH) ? ` Batch ${BATCH}: ${result.adapter.batchMode}.` : '';
    lines.push(`- ${rowName(result)}: ${versionsOf(result.adapter)}${result.details ? `; ${result.details}` : ''}.${batch}`);
  }
  return lines.join('\n');
}

/** Renders BENCHMARKS.md from the machine, the options and the results per network. */
export function renderReport({ machine, loadAtEnd, command, options, sections, skipped, note, profile, date }) {
  const lines = [
    '# Benchmarks',
    '',
    '<!-- Generated by `npm run bench` (bench/run.mjs). Edit bench/report.mjs, not this file. -->',
    '',
  ];
  if (note) lines.push(`> ${note}`, '');
  lines.push(
    `Run on ${date}.`,
    '',
    '## Machine',
    '',
    `- CPU: ${machine.cpu}, ${machine.cores} cores (os.availableParallelism() ${machine.availableParallelism}), ${machine.memoryGiB.toFixed(0)} GiB`,
    `- Node ${machine.node} (V8 ${machine.v8}), ${machine.os}`,
    `- Load average (1, 5, 15 min) at the start: ${loads(machine.loadAverage)}; at the end: ${loads(loadAtEnd)}`,
    `- Command: \`${command}\``,
    '',
    '## Method',
    '',
    `- Every runtime runs in its own child process, one at a time, so peak RSS (the process\'s VmHWM from /proc/self/status, Node itself included) belongs to that runtime and its model. It is read twice: after the first batch-1 run, before the batch-${BATCH} runs allocate their tensors, and at the end.`,
    '- Cold start is measured inside that process: importing the runtime and instantiating its wasm, reading the model file and preparing the model, and the first inference. Node\'s own start-up is not included.',
    `- Before any timing, each runtime\'s outputs are compared with ${REFERENCE} on the same input: batch 1, and each image of the batch of ${BATCH}. Each batched output is also compared with the same runtime\'s batch-1 outputs of its images. A runtime that disagrees is listed and not timed.`,
    `- After a warm-up of ${options.warmupMs} ms per batch size, the runtimes are timed in ${options.rounds} interleaved rounds (rotated order) of ${Math.round(options.minMs / options.rounds)} ms each, so each gets at least ${options.minMs} ms and ${2 * options.rounds} runs per batch size. The 1-thread and ${MULTI_THREADS}-thread runs of a runtime take their turns one after the other in every round, swapping places every other round, so load on the machine falls on both. Every run reads its output back.`,
    `- Threads are set explicitly for every runtime, and the build and threads columns show what ran. efficientnet-wasm: loadModel with numThreads 1 or ${MULTI_THREADS} and a wasmPath; the columns are model.info.wasmPath and model.info.threads. onnxruntime-web: env.wasm.numThreads 1 or ${MULTI_THREADS}, read back after initialization (it falls back to 1 where it cannot start threads). onnxruntime-node: intraOpNumThreads 1 or ${MULTI_THREADS} with one inter-op thread, shown as set, because it does not report its pool size. tfjs-backend-wasm: 1 thread, from getThreadsCount(), because it turns its multithreaded build off whenever it runs in Node (WASM_HAS_MULTITHREAD_SUPPORT is false there). TFLite's wasm runtime: numThreads 1, because the glue of its threaded build starts its threads with the browser's Worker global and fails in Node with "Worker is not defined".`,
    '- onnxruntime-node runs native code (not wasm) and is the ceiling here, not a peer in the same sandbox.',
    `- Batch ${BATCH}: efficientnet-wasm runs model.predictBatch() on the ${BATCH} images, one pass over the network in which each 1x1 convolution and dense layer is one GEMM over all images; tfjs and onnxruntime take one [${BATCH}, 224, 224, 3] (NCHW for onnxruntime) tensor; the TFLite runner has no call to resize the fixtures\' [1, 224, 224, 3] input, so its batch is ${BATCH} single calls. The scalar build runs batch 1 only.`,
    '- "ours ÷ runtime" is the median of efficientnet-wasm (simd) at the same thread count and batch size divided by that runtime\'s median: below 1 means efficientnet-wasm is faster.',
    '',
  );
  if (sections.length > 0) lines.push(goalSection(sections), '');
  lines.push('## Results', '');
  for (const section of sections) lines.push(networkSection(section.network, section.results), '');
  if (skipped.length > 0) {
    lines.push('Skipped:', '');
    for (const text of skipped) lines.push(`- ${text}`);
    lines.push('');
  }
  if (profile) {
    lines.push(
      '## Where the time goes',
      '',
      `EfficientNet-B0 on efficientnet-wasm (simd), in this process after the runs above: median per kernel over ${profile.runs} runs in which every kernel call is timed (${profile.total.toFixed(1)} ms in kernels in all on 1 thread${profile.threads === null ? '' : `, ${profile.threadedTotal.toFixed(1)} ms on ${profile.threads} threads`}). GFLOP/s counts a multiply and an add per tap, on 1 thread. On ${MULTI_THREADS} threads, a kernel call split between the threads counts at its wall time.`,
      '',
      `The ceiling is ${profile.peakGflops.toFixed(1)} GFLOP/s, measured in the same process by bench/peak.mjs: 12 independent chains of f32x4 multiply then add, the most that wasm SIMD without fused multiply-add did in a tight loop here on one core.`,
      '',
    );
    if (profile.threadedError) lines.push(`The ${MULTI_THREADS}-thread profile failed: ${profile.threadedError}`, '');
    const threads = profile.threads ?? MULTI_THREADS;
    lines.push(
      `| kernel | ms, 1 thread | share | calls | GFLOP/s | of the ceiling | ms, ${threads} threads | 1 thread ÷ ${threads} threads |`,
      '|---|---|---|---|---|---|---|---|',
    );
    for (const row of profile.rows) {
      const rate = row.gflops === null ? '– | –' : `${row.gflops.toFixed(1)} | ${((100 * row.gflops) / profile.peakGflops).toFixed(0)} %`;
      const threaded = row.threadedMs === null ? '– | –' : `${row.threadedMs.toFixed(2)} | ${(row.ms / row.threadedMs).toFixed(2)}`;
      lines.push(`| ${row.kernel} | ${row.ms.toFixed(2)} | ${((100 * row.ms) / profile.total).toFixed(1)} % | ${row.calls} | ${rate} | ${threaded} |`);
    }
    const b0 = findOurs(sections.find((section) => section.network.id === 'b0')?.results ?? [], 'simd', 1, 1);
    const median = b0?.timing?.[1]?.median;
    if (median) {
      const rate = profile.flops / median / 1e6;
      lines.push(
        '',
        `Whole network: ${(profile.flops / 1e9).toFixed(2)} GFLOP per image in these kernels; at the ${median.toFixed(1)} ms median above, ${rate.toFixed(1)} GFLOP/s, ${((100 * rate) / profile.peakGflops).toFixed(0)} % of the ceiling.`,
      );
    }
    lines.push('', 'bench/README.md ("Status against the speed goals") compares these numbers with the goals and says what would close the gaps.', '');
  }
  return `${lines.join('\n').trimEnd()}\n`;
}

/** Prints one line per runtime of a network to the console. */
export function printSection(network, results, log) {
  log(`\n${network.title}`);
  for (const result of results) {
    const one = result.timing[1];
    const batched = result.timing[BATCH];
    const parts = [result.adapter.id.padEnd(21), `${buildText(result)}, ${threadsText(result)}t`.padEnd(16)];
    if (result.cold) parts.push(`cold ${ms(result.cold.coldMs).padStart(6)} ms`, `first ${ms(result.cold.firstMs[1]).padStart(6)} ms`);
    if (one) parts.push(`median ${ms(one.median).padStart(6)} ms (p10..p90 ${range(one.p10, one.p90)}, ${one.runs} runs)`, `${one.imagesPerSecond.toFixed(1)} img/s`);
    if (batched) parts.push(`batch ${BATCH}: ${batched.imagesPerSecond.toFixed(1)} img/s`);
    parts.push(`peak RSS ${mib(result.peakRssBytes)}`, `ours/this ${ratio(results, result, 1)}`);
    if (result.error) parts.push(`(${result.error})`);
    log(parts.join('  '));
  }
  for (const row of goalRows(network, results)) {
    log(`  ${row.comparison}: ${row.ratio} (per round ${row.range}; ${row.medians})${row.goal === '–' ? '' : `, goal ${row.goal}: ${row.met}`}`);
  }
}
