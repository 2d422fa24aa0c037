#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { listModelFileTensors, serializeModel } from '../formats/safetensors/index.js';
import { readModelDescription, type Classification, type Model } from '../model.js';
import { parseLabelLines } from '../labels.js';
import { isUrlString } from '../source.js';
import type { WasmPath } from '../wasm/instantiate.js';
import { DEFAULT_MODEL_NAME } from '../zoo/index.js';
import { formatBench, runBench, threadCount } from './bench.js';
import { printModels } from './models.js';
import { loadModelWithProgress } from './progress.js';

const USAGE = `Usage:
  effnet classify <image...> [--model <name|file>] [--top-k N] [--json]
  effnet info [--model <name|file>] [--json]
  effnet convert <model> --output <file> [--json]
  effnet models [--json]
  effnet bench [--model <name|file>] [--runs N] [--warmup N] [--size HxW] [--batch N] [--json]

Options:
  -m, --model <name|file>    model: a name from "effnet models" (default ${DEFAULT_MODEL_NAME},
                             downloaded once into the cache), a file (.tflite, model.json,
                             or .safetensors written by convert) or a URL
  -o, --output <file>        file that convert writes: the model as one efficientnet-wasm
                             .safetensors file, which loads faster than the original
  -k, --top-k <N>            predictions to print per image (default 5)
      --threshold <score>    drop predictions scoring below this (default 0)
      --fit <mode>           stretch (default) or center-crop
      --wasm <path>          kernel build: auto (default), relaxed-simd, simd or scalar
      --threads <N>          threads per layer: auto (default, every core) or a count; 1 runs
                             without worker threads
      --no-quantization-grid run quantized models in plain float
      --mean <r,g,b>         per-channel mean in 0-255 pixel units that classify subtracts,
                             in place of the model file's (one value applies to all three)
      --std <r,g,b>          per-channel standard deviation that classify divides by; give it
                             with --mean, for models whose file does not state its normalization
      --labels <file>        text file with one label per line, one line per class
      --runs <N>             bench: timed runs (default 10)
      --warmup <N>           bench: untimed runs before them (default 2)
      --size <HxW>           bench: input size for a model without a fixed one (default 224x224);
                             without --model, the size of the random-weight EfficientNet-B0
      --batch <N>            bench: images per run, as one batch (default 1)
      --json                 print JSON instead of text
  -h, --help                 print this help
  -v, --version              print the version

Environment:
  EFFNET_CACHE_DIR           folder of downloaded models (default $XDG_CACHE_HOME/efficientnet-wasm
                             or ~/.cache/efficientnet-wasm)
  EFFNET_MODEL_BASE_URL      base URL of a mirror that replaces the published model locations
  EFFNET_MODEL_REGISTRY      JSON file of extra registry entries: { "baseUrl": ..., "models": [...] }`;

/** An error in how the command was called: printed with the usage hint, exit code 2. */
class UsageError extends Error {}

interface Options {
  model?: string;
  output?: string;
  topK: number;
  threshold: number;
  fit: 'stretch' | 'center-crop';
  wasm: WasmPath | 'auto';
  threads: number | 'auto';
  batch: number;
  quantizationGrid: boolean;
  normalization: { mean: [number, number, number]; std: [number, number, number] } | null;
  labels: string | null;
  json: boolean;
  runs: number;
  warmup: number;
  size: { height: number; width: number } | null;
  /** The bench-only options given (--runs, --warmup, --size, --batch), for the error on other commands. */
  benchOptionsGiven: string[];
}

function parse(argv: string[]): { command: string | undefined; files: string[]; options: Options; help: boolean; version: boolean } {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        model: { type: 'string', short: 'm' },
        output: { type: 'string', short: 'o' },
        'top-k': { type: 'string', short: 'k' },
        threshold: { type: 'string' },
        fit: { type: 'string' },
        wasm: { type: 'string' },
        threads: { type: 'string' },
        batch: { type: 'string' },
        'no-quantization-grid': { type: 'boolean' },
        mean: { type: 'string' },
        std: { type: 'string' },
        labels: { type: 'string' },
        runs: { type: 'string' },
        warmup: { type: 'string' },
        size: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    });
  } catch (error) {
    throw new UsageError(describeParseError(error as Error & { code?: string }));
  }
  const { values, positionals } = parsed;
  const topK = values['top-k'] === undefined ? 5 : Number(values['top-k']);
  if (!Number.isInteger(topK) || topK < 1) {
    throw new UsageError(`Invalid --top-k: expected a positive integer, but got ${JSON.stringify(values['top-k'])}.`);
  }
  const threshold = values.threshold === undefined ? 0 : Number(values.threshold);
  if (!Number.isFinite(threshold)) {
    throw new UsageError(`Invalid --threshold: expected a number, but got ${JSON.stringify(values.threshold)}.`);
  }
  const fit = values.fit ?? 'stretch';
  if (fit !== 'stretch' && fit !== 'center-crop') {
    throw new UsageError(`Invalid --fit: expected stretch or center-crop, but got ${JSON.stringify(fit)}.`);
  }
  const wasm = values.wasm ?? 'auto';
  if (wasm !== 'auto' && wasm !== 'relaxed-simd' && wasm !== 'simd' && wasm !== 'scalar') {
    throw new UsageError(`Invalid --wasm: expected auto, relaxed-simd, simd or scalar, but got ${JSON.stringify(wasm)}.`);
  }
  const threads = values.threads === undefined || values.threads === 'auto' ? 'auto' : Number(values.threads);
  if (threads !== 'auto' && !(Number.isInteger(threads) && threads >= 1)) {
    throw new UsageError(`Invalid --threads: expected auto or a positive integer, but got ${JSON.stringify(values.threads)}.`);
  }
  const batch = values.batch === undefined ? 1 : Number(values.batch);
  if (!Number.isInteger(batch) || batch < 1) {
    throw new UsageError(`Invalid --batch: expected a positive integer, but got ${JSON.stringify(values.batch)}.`);
  }
  const runs = values.runs === undefined ? 10 : Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) {
    throw new UsageError(`Invalid --runs: expected a positive integer, but got ${JSON.stringify(values.runs)}.`);
  }
  const warmup = values.warmup === undefined ? 2 : Number(values.warmup);
  if (!Number.isInteger(warmup) || warmup < 0) {
    throw new UsageError(`Invalid --warmup: expected a non-negative integer, but got ${JSON.stringify(values.warmup)}.`);
  }
  if ((values.mean === undefined) !== (values.std === undefined)) {
    throw new UsageError('Missing --mean or --std: give both, as in --mean 127.5 --std 127.5.');
  }
  const normalization =
    values.mean === undefined
      ? null
      : { mean: parseChannels('--mean', values.mean!, false), std: parseChannels('--std', values.std!, true) };
  let size: Options['size'] = null;
  if (values.size !== undefined) {
    const match = /^(\d+)x(\d+)$/i.exec(values.size);
    if (!match || Number(match[1]) < 1 || Number(match[2]) < 1) {
      throw new UsageError(`Invalid --size: expected HEIGHTxWIDTH in pixels, as in 224x224, but got ${JSON.stringify(values.size)}.`);
    }
    size = { height: Number(match[1]), width: Number(match[2]) };
  }
  return {
    command: positionals[0],
    files: positionals.slice(1),
    options: {
      model: values.model,
      output: values.output,
      topK,
      threshold,
      fit,
      wasm,
      threads,
      batch,
      quantizationGrid: !values['no-quantization-grid'],
      normalization,
      labels: values.labels ?? null,
      json: Boolean(values.json),
      runs,
      warmup,
      size,
      benchOptionsGiven: (['runs', 'warmup', 'size', 'batch'] as const)
        .filter((name) => values[name] !== undefined)
        .map((name) => `--${name}`),
    },
    help: Boolean(values.help),
    version: Boolean(values.version),
  };
}

/** Rounds a normalization constant for display: 254.99998491 prints as 255. */
function round(value: number): string {
  return String(Number(value.toPrecision(6)));
}

/** Parses "r,g,b" or one number for all three channels. */
function parseChannels(option: string, text: string, positive: boolean): [number, number, number] {
  const parts = text.split(',').map((part) => Number(part.trim()));
  const values = parts.length === 1 ? [parts[0], parts[0], parts[0]] : parts;
  if (values.length !== 3 || !values.every((value) => Number.isFinite(value) && (!positive || value > 0))) {
    throw new UsageError(
      `Invalid ${option}: expected one number or three comma-separated numbers (R,G,B)${positive ? ' above 0' : ''}, ` +
        `as in 127.5 or 123.7,116.3,103.5, but got ${JSON.stringify(text)}.`,
    );
  }
  return [values[0], values[1], values[2]];
}

/** Reads a label file: one label per line, blank lines at the end ignored. */
async function readLabels(file: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? `Label file not found: ${file}. Check the path.` : `Failed to read label file ${file}: ${(error as Error).message}`);
  }
  return parseLabelLines(text);
}

/** Rewrites node:util parseArgs errors into this CLI's wording. */
function describeParseError(error: Error & { code?: string }): string {
  const option = /'(-[^']*)'/.exec(error.message)?.[1];
  switch (error.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `Unknown option ${option ?? ''}: run "effnet --help" for the list of options.`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      {
        // A value that starts with "-" (e.g. --top-k -1) is read as another option.
        const name = option?.replace(/^(--?[^ =]+).*$/, '$1') ?? '--top-k';
        return `Invalid or missing value for ${name}: give it a value, as in ${name} 3 ` +
          `(write ${name}=-1 to pass a value that starts with "-").`;
      }
    default:
      return error.message;
  }
}

function packageVersion(): string {
  const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

async function openModel(options: Options): Promise<Model> {
  return loadModelWithProgress(options.model ?? DEFAULT_MODEL_NAME, {
    wasmPath: options.wasm,
    numThreads: options.threads,
    quantizationGrid: options.quantizationGrid,
    ...(options.normalization ? { normalization: options.normalization } : {}),
    ...(options.labels !== null ? { labels: await readLabels(options.labels) } : {}),
  });
}

async function bench(options: Options): Promise<number> {
  const result = await runBench(options);
  console.log(options.json ? JSON.stringify(result, null, 2) : formatBench(result));
  return 0;
}

function formatClassification(file: string, result: Classification): string {
  const lines = [`${file}  (${result.timings.inferenceMs.toFixed(1)} ms inference)`];
  for (const prediction of result.predictions) {
    lines.push(`  ${prediction.score.toFixed(4)}  ${prediction.label}`);
  }
  if (result.predictions.length === 0) lines.push('  (no prediction above the threshold)');
  return lines.join('\n');
}

async function classify(files: string[], options: Options): Promise<number> {
  if (files.length === 0) throw new UsageError('Missing image: name one or more image files after "classify".');
  const model = await openModel(options);
  let exitCode = 0;
  const results: unknown[] = [];
  try {
    for (const file of files) {
      try {
        const result = await model.classify(file, { topK: options.topK, scoreThreshold: options.threshold, fit: options.fit });
        if (options.json) results.push({ image: file, ...result });
        else console.log(formatClassification(file, result));
      } catch (error) {
        exitCode = 1;
        if (options.json) results.push({ image: file, error: (error as Error).message });
        console.error(`effnet: ${(error as Error).message}`);
      }
    }
    if (options.json) {
      const { name, wasmPath, threads } = model.info;
      console.log(JSON.stringify({ model: name, wasmPath, threads, results }, null, 2));
    }
  } finally {
    model.dispose();
  }
  return exitCode;
}

function quantizedMode(info: { quantizationGrid: boolean; integerPipeline: boolean }): string {
  if (info.integerPipeline) return 'emulated integer pipeline';
  return info.quantizationGrid ? 'float with rounding onto the quantization grids' : 'float, quantization grids off';
}

async function info(options: Options): Promise<number> {
  const model = await openModel(options);
  try {
    const info = model.info;
    if (options.json) {
      console.log(JSON.stringify(info, null, 2));
      return 0;
    }
    const size = info.inputSize ? `${info.inputSize.height}x${info.inputSize.width}x${info.inputChannels}` : `any x any x ${info.inputChannels}`;
    const rows: [string, string][] = [
      ['name', info.name],
      ['format', info.format],
      ['input', size],
      ['classes', info.numClasses === null ? 'none (feature output)' : String(info.numClasses)],
      ['labels', info.hasLabels ? 'yes' : 'no'],
      ['quantized', info.quantized ? `yes (${quantizedMode(info)})` : 'no'],
      [
        'pixel input',
        `(pixel - [${info.normalization.mean.map(round).join(', ')}]) / [${info.normalization.std.map(round).join(', ')}]` +
          (info.normalizationAssumed ? ' (assumed: the file does not state it; set it with --mean and --std)' : ''),
      ],
      ['predict input', info.inputSpace === 'pixels' ? '0-255 pixel values' : 'normalized values'],
      ['blocks', String(info.blocks)],
      ['parameters', info.parameters.toLocaleString('en-US')],
      ['wasm path', `${info.wasmPath}, ${threadCount(info.threads)}`],
      ['wasm memory', `${(info.memoryBytes / 1048576).toFixed(1)} MiB`],
    ];
    for (const [key, value] of rows) console.log(`${key.padEnd(14)}${value}`);
    return 0;
  } finally {
    model.dispose();
  }
}

/**
 * Imports a model through its format's importer and writes it as one
 * efficientnet-wasm model file, which loadModel reads without the importer.
 */
async function convert(files: string[], options: Options): Promise<number> {
  const example = 'as in effnet convert model.tflite -o model.safetensors';
  if (options.model !== undefined) {
    throw new UsageError(`Unexpected --model: "convert" takes the model file or URL as its argument, ${example}.`);
  }
  if (files.length === 0) throw new UsageError(`Missing model: name the model file or URL to convert, ${example}.`);
  if (files.length > 1) throw new UsageError(`Unexpected argument ${JSON.stringify(files[1])}: "convert" takes one model.`);
  if (options.output === undefined) throw new UsageError(`Missing --output: name the file to write, ${example}.`);
  const [input] = files;
  const output = options.output;
  await rejectSameFile(input, output);

  const start = performance.now();
  const description = await readModelDescription(input);
  const bytes = serializeModel(description);
  await writeOutput(output, bytes);
  const seconds = (performance.now() - start) / 1000;
  const tensors = listModelFileTensors(bytes, output).length;

  if (options.json) {
    const summary = { input, output, bytes: bytes.length, tensors, inputFormat: description.format, seconds: Number(seconds.toFixed(3)) };
    console.log(JSON.stringify(summary, null, 2));
  } else {
    const size = bytes.length < 1048576 ? `${(bytes.length / 1024).toFixed(1)} KiB` : `${(bytes.length / 1048576).toFixed(1)} MiB`;
    console.log(`Wrote ${output} (${size}, ${tensors} tensors) from ${input} (${description.format}) in ${seconds.toFixed(2)} s.`);
  }
  return 0;
}

/** Rejects an output that names the input file, also through another path, a symbolic link or a hard link. */
async function rejectSameFile(input: string, output: string): Promise<void> {
  let inputPath = input;
  if (isUrlString(input)) {
    if (!/^file:/i.test(input)) return;
    inputPath = fileURLToPath(input);
  }
  let same = path.resolve(inputPath) === path.resolve(output);
  if (!same) {
    const [inputStat, outputStat] = await Promise.all([stat(inputPath).catch(() => null), stat(output).catch(() => null)]);
    same = inputStat !== null && outputStat !== null && inputStat.dev === outputStat.dev && inputStat.ino === outputStat.ino;
  }
  if (same) {
    throw new UsageError(`Invalid --output: ${output} is the model being converted, and convert never overwrites its input. Name another file.`);
  }
}

async function writeOutput(output: string, bytes: Uint8Array): Promise<void> {
  try {
    await writeFile(output, bytes);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`Failed to write ${output}: the directory ${path.dirname(path.resolve(output))} does not exist.`);
    if (code === 'EISDIR') throw new Error(`Failed to write ${output}: it is a directory. Name a file.`);
    if (code === 'EACCES' || code === 'EPERM') throw new Error(`Failed to write ${output}: permission denied.`);
    throw new Error(`Failed to write ${output}: ${(error as Error).message}`);
  }
}

async function main(argv: string[]): Promise<number> {
  const { command, files, options, help, version } = parse(argv);
  if (version) {
    console.log(packageVersion());
    return 0;
  }
  if (help || command === 'help') {
    console.log(USAGE);
    return 0;
  }
  if (command === undefined) {
    console.error(USAGE);
    return 2;
  }
  if (options.output !== undefined && command !== 'convert') {
    throw new UsageError(`Unexpected --output: only "convert" writes a file, "${command}" prints its results.`);
  }
  if (options.benchOptionsGiven.length > 0 && command !== 'bench') {
    const given = options.benchOptionsGiven.join(', ');
    throw new UsageError(`Unexpected ${given}: only "bench" takes ${options.benchOptionsGiven.length === 1 ? 'it' : 'them'}, not "${command}".`);
  }
  switch (command) {
    case 'convert':
      return convert(files, options);
    case 'classify':
      return classify(files, options);
    case 'info':
      if (files.length > 0) throw new UsageError(`Unexpected argument ${JSON.stringify(files[0])}: "info" takes only --model.`);
      return info(options);
    case 'models':
    case 'list':
      if (files.length > 0 || options.model !== undefined) throw new UsageError(`Unexpected argument: "${command}" takes only --json.`);
      return printModels(options.json);
    case 'bench':
      if (files.length > 0) throw new UsageError(`Unexpected argument ${JSON.stringify(files[0])}: "bench" takes the model as --model.`);
      return bench(options);
    default:
      throw new UsageError(`Unknown command ${JSON.stringify(command)}: expected classify, info, convert, models or bench.`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    console.error(`effnet: ${message}`);
    if (error instanceof UsageError) console.error('Run "effnet --help" for usage.');
    if (process.env.EFFNET_DEBUG && error instanceof Error) console.error(error.stack);
    process.exitCode = error instanceof UsageError ? 2 : 1;
  },
);
