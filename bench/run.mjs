// Side-by-side benchmark: this package against TensorFlow.js (wasm backend),
// onnxruntime-web, onnxruntime-node and TensorFlow Lite's wasm runtime, on the
// same weights, at batch 1 and batch 8, on 1 thread and (where the runtime has
// threads in Node) 2 threads, in interleaved rounds of one run.
//
//   npm run build && npm run bench [-- options]
//
// Options:
//   --min-ms=N       time per runtime and batch size, split over the rounds (default 3000)
//   --rounds=N       interleaved rounds (default 5)
//   --warmup-ms=N    untimed runs per batch size before the rounds (default 500)
//   --networks=LIST  comma-separated: b0, lite0, mobilenet (default all)
//   --only=LIST      comma-separated runtime ids (default all); ours-simd always runs,
//                    because the agreement check compares against it
//   --note=TEXT      a line printed at the top of BENCHMARKS.md
//   --no-write       print only, leave BENCHMARKS.md as it is
//   --out=PATH       write the report to PATH instead of BENCHMARKS.md (for smoke runs)
//   --profile        also measure B0's time per kernel (SIMD build, 1 and 2 threads), printed and added to the report
//
// A short smoke run: npm run bench -- --min-ms=400 --rounds=2 --warmup-ms=100 --no-write
//
// Writes BENCHMARKS.md at the repository root. bench/README.md describes the
// method and each runtime's setup.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { benchmarkNetwork } from './harness.mjs';
import { NETWORKS, distEntry, prepareModelFiles, root } from './models.mjs';
import { ADAPTERS } from './peers.mjs';
import { describeMachine, printSection, renderReport } from './report.mjs';
import { transpileTfjsBuilder } from './tfjs-models.mjs';

function option(name, fallback) {
  const prefix = `--${name}=`;
  const argument = process.argv.slice(2).find((arg) => arg.startsWith(prefix));
  return argument === undefined ? fallback : argument.slice(prefix.length);
}

function positiveNumber(name, fallback) {
  const value = Number(option(name, fallback));
  if (!(value > 0)) {
    console.error(`Invalid --${name}: expected a positive number, but got ${option(name, fallback)}.`);
    process.exit(1);
  }
  return value;
}

function list(name, known) {
  const text = option(name, null);
  if (text === null) return known;
  const values = text.split(',').filter(Boolean);
  const unknown = values.filter((value) => !known.includes(value));
  if (unknown.length > 0) {
    console.error(`Invalid --${name}: unknown ${unknown.join(', ')}; expected some of ${known.join(', ')}.`);
    process.exit(1);
  }
  return values;
}

if (!existsSync(distEntry)) {
  console.error(`${distEntry} is missing: run "npm run build" first, then "npm run bench".`);
  process.exit(1);
}

const options = {
  minMs: positiveNumber('min-ms', 3000),
  rounds: Math.round(positiveNumber('rounds', 5)),
  warmupMs: positiveNumber('warmup-ms', 500),
};
const networkIds = list('networks', Object.keys(NETWORKS));
const runtimeIds = list('only', ADAPTERS.map((adapter) => adapter.id));
if (!runtimeIds.includes('ours-simd')) runtimeIds.unshift('ours-simd');
const note = option('note', null);
const write = !process.argv.includes('--no-write');
const reportFile = path.resolve(option('out', path.join(root, 'BENCHMARKS.md')));
// Arguments with spaces or quotes are single-quoted, so the printed command can be pasted into a shell.
const shellQuote = (arg) => (/^[\w.,=\/:-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`);
const command = ['npm run bench', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2).map(shellQuote)] : [])].join(' ');

const machine = describeMachine();
const log = (text) => console.log(text);
log(`${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, load average ${machine.loadAverage.map((v) => v.toFixed(2)).join(' ')}`);
log(`command: ${command}`);

// Not exported from the package entry, but dist/model.js exports it.
const { readModelDescription } = await import(path.join(root, 'dist', 'model.js'));
const modelDir = mkdtempSync(path.join(os.tmpdir(), 'efficientnet-wasm-bench-'));
const sections = [];
const skipped = [];
try {
  const files = await prepareModelFiles(modelDir);
  await transpileTfjsBuilder();
  for (const id of networkIds) {
    const network = NETWORKS[id];
    if (network.file && !existsSync(network.file)) {
      skipped.push(`${network.title}: ${network.file} is absent.`);
      log(`\n${network.title}: skipped, ${network.file} is absent.`);
      continue;
    }
    // Quantized TFLite outputs are compared as dequantized scores, with the grid the file declares.
    const outputGrid = network.file ? (await readModelDescription(network.file)).outputGrid ?? null : null;
    const adapters = ADAPTERS.filter((adapter) => adapter.networks.includes(id) && runtimeIds.includes(adapter.id));
    log(`\n${network.title}: ${adapters.map((adapter) => adapter.id).join(', ')}`);
    const results = await benchmarkNetwork({ network, adapters, files, outputGrid, options, log });
    printSection(network, results, log);
    sections.push({ network, results });
  }
} finally {
  rmSync(modelDir, { recursive: true, force: true });
}

// The profile runs after the peers' processes have ended, so nothing else shares the machine.
let profile = null;
if (process.argv.includes('--profile')) {
  const { measureProfile, printProfile } = await import('./profile.mjs');
  profile = await measureProfile();
  printProfile(profile);
}

if (write) {
  const report = renderReport({
    machine,
    loadAtEnd: os.loadavg(),
    command,
    options,
    sections,
    skipped,
    note,
    profile,
    date: new Date().toISOString().slice(0, 10),
  });
  writeFileSync(reportFile, report);
  log(`\nWrote ${reportFile}`);
}

