// The runtimes of the side-by-side benchmark, each behind one adapter:
//
//   importRuntime()           imports the runtime's modules and instantiates its wasm.
//   load(runtime, context)    reads the model file and prepares the model.
//                             It returns the handle for prepare(), with `active`:
//                             the kernel build and the thread count that run, read
//                             back from the runtime where it reports them.
//   prepare(handle, images)   makes the input for a batch of NHWC images once.
//                             It returns run(), which infers and returns the output
//                             read back as a new Float32Array [batch * classes].
//
// Each adapter sets its runtime's thread count explicitly. It runs batch 1, and
// batch BATCH where batches is [1, BATCH]; `batchMode` describes how it runs a
// batch. Adapters with the same `group` (one runtime at 1 and 2 threads) are
// timed next to each other. bench/worker.mjs runs one adapter per child process.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { BATCH, distEntry, nhwcToNchw, readGraphFile, root, stackImages } from './models.mjs';
import { tfjsModuleFile } from './tfjs-models.mjs';

const BATCH_ONE = [1];
const BATCHED = [1, BATCH];

/** Threads of the multithreaded runs: the speed goals compare 1 thread with 2. */
export const MULTI_THREADS = 2;

/** Runtime id of a thread count: the 1-thread runs keep the plain id, others get a -Nt suffix. */
function threadedId(id, threads) {
  return threads === 1 ? id : `${id}-${threads}t`;
}

/** Concatenates per-image outputs into one Float32Array, image after image. */
function concatenate(arrays) {
  const out = new Float32Array(arrays.reduce((total, array) => total + array.length, 0));
  let offset = 0;
  for (const array of arrays) {
    out.set(array, offset);
    offset += array.length;
  }
  return out;
}

/** Reads the version field of an installed package's package.json, or null when it is not installed. */
export function packageVersion(name) {
  try {
    return JSON.parse(readFileSync(path.join(root, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return null;
  }
}

/**
 * This package with the given kernel build and thread count, both passed to
 * loadModel: numThreads defaults to 'auto' (every core), so a 1-thread run must
 * ask for 1.
 */
function ours(build, threads) {
  return {
    id: threadedId(`ours-${build}`, threads),
    group: `ours-${build}`,
    label: 'efficientnet-wasm',
    requested: { build, threads },
    packages: [],
    // Node 20 validates relaxed SIMD only with this V8 flag, so that build's process starts with it.
    execArgv: build === 'relaxed-simd' ? ['--experimental-wasm-relaxed-simd'] : [],
    networks: ['b0', 'lite0', 'mobilenet'],
    // The scalar build is the fallback for runtimes without SIMD, not a throughput path, so it runs batch 1 only.
    batches: build === 'scalar' ? BATCH_ONE : BATCHED,
    batchMode: 'predictBatch(): one pass over the network, each 1x1 convolution and dense layer as one GEMM over all images',
    async importRuntime() {
      return import(distEntry);
    },
    async load(runtime, { network, files }) {
      // B0 loads from the file that serializeModel wrote, the fixtures from their .tflite files.
      const file = network.id === 'b0' ? files.modelFile : network.file;
      const model = await runtime.loadModel(file, { wasmPath: build, numThreads: threads });
      const info = model.info;
      let pipeline = '';
      if (info.quantized) pipeline = info.integerPipeline ? ', integer pipeline' : ', float pipeline';
      return {
        model,
        active: { build: info.wasmPath, threads: info.threads },
        details: `loadModel with wasmPath '${build}' and numThreads ${threads}; model.info reports ${info.wasmPath} kernels, ${plural(info.threads, 'thread')}${pipeline}`,
      };
    },
    prepare({ model }, images) {
      if (images.length === 1) {
        const [image] = images;
        return async () => model.predict(image).slice();
      }
      return async () => concatenate(model.predictBatch(images));
    },
  };
}

/** Formats a count with its noun, adding an s unless the count is 1. */
export function plural(count, noun) {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/** tfjs with the wasm backend; folded selects the graph with BatchNorm folded into the convolutions. */
function tfjsWasm(folded) {
  return {
    id: folded ? 'tfjs-wasm-folded' : 'tfjs-wasm-keras',
    label: folded ? 'tfjs-backend-wasm, BatchNorm folded' : 'tfjs-backend-wasm, Keras graph (BatchNorm unfolded)',
    requested: { build: 'simd', threads: 1 },
    packages: ['@tensorflow/tfjs-core', '@tensorflow/tfjs-layers', '@tensorflow/tfjs-backend-wasm'],
    networks: ['b0'],
    batches: BATCHED,
    batchMode: `one [${BATCH}, 224, 224, 3] tensor`,
    async importRuntime() {
      const builder = await import(tfjsModuleFile);
      const tf = await import('@tensorflow/tfjs');
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      if (!(await tf.setBackend('wasm'))) throw new Error('tfjs failed to initialize the wasm backend.');
      await tf.ready();
      return { tf, wasm, builder };
    },
    async load({ tf, wasm, builder }, { files }) {
      const graph = readGraphFile(folded ? files.foldedGraph : files.graph);
      const { model } = builder.buildTfjsModel(graph, folded ? 'efficientnet_b0_folded' : 'efficientnet_b0');
      const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
      const threads = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
      const details =
        `backend ${tf.getBackend()}, ${simd ? 'SIMD' : 'no SIMD'} build, ` +
        `multithread support ${threads ? 'on' : 'off (always off in Node)'}, ${plural(wasm.getThreadsCount(), 'thread')}, ` +
        `${model.layers.length} layers`;
      return { tf, model, active: { build: simd ? 'simd' : 'no SIMD', threads: wasm.getThreadsCount() }, details };
    },
    prepare({ tf, model }, images) {
      const size = Math.round(Math.sqrt(images[0].length / 3));
      const input = tf.tensor4d(stackImages(images), [images.length, size, size, 3]);
      return async () => {
        const output = model.predict(input);
        const data = output.dataSync().slice();
        output.dispose();
        return data;
      };
    },
  };
}

/**
 * onnxruntime-web (wasm execution provider) or onnxruntime-node (native CPU
 * execution provider) with the given thread count: env.wasm.numThreads for the
 * web package, intraOpNumThreads for the node package (one inter-op thread,
 * sequential execution).
 */
function onnxRuntime(kind, threads) {
  const web = kind === 'web';
  return {
    id: threadedId(web ? 'ort-web' : 'ort-node', threads),
    group: web ? 'ort-web' : 'ort-node',
    label: web ? 'onnxruntime-web (wasm)' : 'onnxruntime-node (native CPU)',
    requested: { build: web ? 'simd' : 'native', threads },
    packages: [web ? 'onnxruntime-web' : 'onnxruntime-node'],
    networks: ['b0'],
    batches: BATCHED,
    batchMode: `one [${BATCH}, 3, 224, 224] tensor`,
    async importRuntime() {
      const module = await import(web ? 'onnxruntime-web' : 'onnxruntime-node');
      const ort = module.default ?? module;
      if (web) {
        // numThreads 1 starts no worker pool; more start that many Emscripten pthreads. No proxy worker either way.
        ort.env.wasm.numThreads = threads;
        ort.env.wasm.proxy = false;
      }
      return ort;
    },
    async load(ort, { files }) {
      const bytes = readFileSync(files.onnx);
      const options = web
        ? { executionProviders: ['wasm'], graphOptimizationLevel: 'all' }
        : { executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential' };
      const session = await ort.InferenceSession.create(bytes, options);
      if (web) {
        // onnxruntime-web sets env.wasm.numThreads back to 1 when the runtime cannot run its threads, so this is the count in use.
        const active = ort.env.wasm.numThreads;
        const details = `wasm execution provider (its SIMD build, ort-wasm-simd-threaded.wasm), env.wasm.numThreads ${threads} requested, ${active} after initialization, graph optimization all`;
        return { ort, session, active: { build: 'simd', threads: active }, details };
      }
      // onnxruntime-node does not report its thread pool size, so the row shows the setting.
      const details = `cpu execution provider, intraOpNumThreads ${threads} (as set; not read back), interOpNumThreads 1, sequential execution, graph optimization all`;
      return { ort, session, active: { build: 'native', threads }, details };
    },
    prepare({ ort, session }, images) {
      const size = Math.round(Math.sqrt(images[0].length / 3));
      const data = nhwcToNchw(stackImages(images), images.length, size, size, 3);
      const feeds = { input: new ort.Tensor('float32', data, [images.length, 3, size, size]) };
      return async () => {
        const results = await session.run(feeds);
        const output = results.output;
        const copy = Float32Array.from(output.data);
        output.dispose?.();
        return copy;
      };
    },
  };
}

/**
 * TensorFlow Lite's own wasm runtime from @tensorflow/tfjs-tflite, SIMD build,
 * loaded without tfjs: its Emscripten glue (tflite_web_api_cc_simd.js) is a
 * browser script that defines tflite_web_api_ModuleFactory, so it runs in a vm
 * context of this process and receives the wasm bytes as wasmBinary. The model
 * runner is the glue's own TFLiteWebModelRunner binding, which the package's
 * JS client wraps in browsers.
 *
 * It runs one thread: the threaded build's glue (tflite_web_api_cc_simd_threaded.js)
 * starts its pthreads with the browser's Worker global, and loading it in Node
 * fails with "Worker is not defined". The runner has no call that resizes the
 * model's fixed [1, 224, 224, 3] input, so a batch runs as single calls.
 */
const tfliteWasm = {
  id: 'tflite-wasm',
  label: 'TFLite wasm runtime (tfjs-tflite, XNNPACK)',
  requested: { build: 'simd', threads: 1 },
  packages: ['@tensorflow/tfjs-tflite'],
  networks: ['lite0', 'mobilenet'],
  batches: BATCHED,
  batchMode: `${BATCH} single calls: the runner cannot resize the model's batch-1 input`,
  async importRuntime() {
    const dir = path.join(root, 'node_modules', '@tensorflow', 'tfjs-tflite', 'wasm');
    const glue = readFileSync(path.join(dir, 'tflite_web_api_cc_simd.js'), 'utf8');
    const factory = vm.runInThisContext(`${glue}\n;tflite_web_api_ModuleFactory`, { filename: 'tflite_web_api_cc_simd.js' });
    // The glue logs through print and printErr; keep its XNNPACK banner out of the report.
    const quiet = () => {};
    return factory({ wasmBinary: readFileSync(path.join(dir, 'tflite_web_api_cc_simd.wasm')), print: quiet, printErr: quiet });
  },
  async load(module, { network, outputGrid }) {
    if (!outputGrid) throw new Error('The TFLite adapter needs the output grid of the model to dequantize its scores.');
    const bytes = readFileSync(network.file);
    const pointer = module._malloc(bytes.length);
    module.HEAPU8.set(bytes, pointer);
    const status = module.TFLiteWebModelRunner.CreateFromBufferAndOptions(pointer, bytes.length, {
      numThreads: 1,
      enableProfiling: false,
      maxProfilingBufferEntries: 1024,
    });
    if (!status.ok()) throw new Error(`TFLite failed to load ${network.file}: ${status.errorMessage()}`);
    const runner = status.value();
    const input = runner.GetInputs().get(0);
    const output = runner.GetOutputs().get(0);
    if (input.dataType !== 'uint8' || output.dataType !== 'uint8') {
      throw new Error(`TFLite adapter expects uint8 input and output, but the model has ${input.dataType} and ${output.dataType}.`);
    }
    return {
      runner,
      input,
      output,
      outputGrid,
      active: { build: 'simd', threads: 1 },
      details: `SIMD build, numThreads 1, input ${input.shape} ${input.dataType}, output ${output.shape} ${output.dataType}`,
    };
  },
  prepare({ runner, input, output, outputGrid }, images) {
    const { scale, zeroPoint } = outputGrid;
    const infer = (image) => {
      input.data().set(image);
      if (!runner.Infer()) throw new Error('TFLite Infer() failed.');
      return Float32Array.from(output.data(), (q) => (q - zeroPoint) * scale);
    };
    if (images.length === 1) {
      // The input tensor keeps the image between runs, so a batch-1 run only infers.
      input.data().set(images[0]);
      return async () => {
        if (!runner.Infer()) throw new Error('TFLite Infer() failed.');
        return Float32Array.from(output.data(), (q) => (q - zeroPoint) * scale);
      };
    }
    return async () => concatenate(images.map(infer));
  },
};

// Runs that share a `group` (one runtime at 1 and 2 threads) are timed next to each other in every round.
export const ADAPTERS = [
  ours('simd', 1),
  ours('simd', MULTI_THREADS),
  ours('relaxed-simd', 1),
  ours('relaxed-simd', MULTI_THREADS),
  ours('scalar', 1),
  tfjsWasm(false),
  tfjsWasm(true),
  onnxRuntime('web', 1),
  onnxRuntime('web', MULTI_THREADS),
  onnxRuntime('node', 1),
  onnxRuntime('node', MULTI_THREADS),
  tfliteWasm,
];

export function findAdapter(id) {
  const adapter = ADAPTERS.find((candidate) => candidate.id === id);
  if (!adapter) throw new Error(`Unknown runtime ${id}: expected one of ${ADAPTERS.map((a) => a.id).join(', ')}.`);
  return adapter;
}
