// The runtimes of the side-by-side benchmark, each behind one adapter:
//
//   importRuntime()           imports the runtime's modules and instantiates its wasm.
//   load(runtime, context)    reads the model file and prepares the model.
//   prepare(handle, images)   makes the input for a batch of NHWC images once.
//                             It returns run(), which infers and returns the output
//                             read back as a new Float32Array [batch * classes].
//
// Every adapter runs one thread at batch 1, and batch BATCH where batches is
// [1, BATCH]. bench/worker.mjs runs one adapter per child process.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { BATCH, distEntry, nhwcToNchw, readGraphFile, root, stackImages } from './models.mjs';
import { tfjsModuleFile } from './tfjs-models.mjs';

const BATCH_ONE = [1];
const BATCHED = [1, BATCH];

/** Reads the version field of an installed package's package.json, or null when it is not installed. */
export function packageVersion(name) {
  try {
    return JSON.parse(readFileSync(path.join(root, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return null;
  }
}

/** This package with the given kernel build. */
function ours(build) {
  return {
    id: `ours-${build}`,
    label: `efficientnet-wasm (${build})`,
    packages: [],
    // Node 20 validates relaxed SIMD only with this V8 flag, so that build's process starts with it.
    execArgv: build === 'relaxed-simd' ? ['--experimental-wasm-relaxed-simd'] : [],
    networks: ['b0', 'lite0', 'mobilenet'],
    batches: BATCH_ONE,
    async importRuntime() {
      return import(distEntry);
    },
    async load(runtime, { network, files }) {
      // B0 loads from the file that serializeModel wrote, the fixtures from their .tflite files.
      const model = await runtime.loadModel(network.id === 'b0' ? files.modelFile : network.file, { wasmPath: build });
      const info = model.info;
      let pipeline = '';
      if (info.quantized) pipeline = info.integerPipeline ? ', integer pipeline' : ', float pipeline';
      return { model, details: `${info.wasmPath} kernels, ${info.threads} thread${pipeline}` };
    },
    prepare({ model }, images) {
      if (images.length !== 1) throw new Error(`efficientnet-wasm runs batch 1 only, but got a batch of ${images.length}.`);
      const [image] = images;
      return async () => model.predict(image).slice();
    },
  };
}

/** tfjs with the wasm backend; folded selects the graph with BatchNorm folded into the convolutions. */
function tfjsWasm(folded) {
  return {
    id: folded ? 'tfjs-wasm-folded' : 'tfjs-wasm-keras',
    label: folded ? 'tfjs-backend-wasm, BatchNorm folded' : 'tfjs-backend-wasm, Keras graph (BatchNorm unfolded)',
    packages: ['@tensorflow/tfjs-core', '@tensorflow/tfjs-layers', '@tensorflow/tfjs-backend-wasm'],
    networks: ['b0'],
    batches: BATCHED,
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
        `multithread support ${threads ? 'on' : 'off (always off in Node)'}, ${wasm.getThreadsCount()} thread, ` +
        `${model.layers.length} layers`;
      return { tf, model, details };
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

function onnxRuntime(kind) {
  const web = kind === 'web';
  return {
    id: web ? 'ort-web' : 'ort-node',
    label: web ? 'onnxruntime-web (wasm)' : 'onnxruntime-node (native CPU)',
    packages: [web ? 'onnxruntime-web' : 'onnxruntime-node'],
    networks: ['b0'],
    batches: BATCHED,
    async importRuntime() {
      const module = await import(web ? 'onnxruntime-web' : 'onnxruntime-node');
      const ort = module.default ?? module;
      if (web) {
        // One thread: no worker pool, no proxy worker.
        ort.env.wasm.numThreads = 1;
        ort.env.wasm.proxy = false;
      }
      return ort;
    },
    async load(ort, { files }) {
      const bytes = readFileSync(files.onnx);
      const options = web
        ? { executionProviders: ['wasm'], graphOptimizationLevel: 'all' }
        : { executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' };
      const session = await ort.InferenceSession.create(bytes, options);
      const details = web
        ? `wasm execution provider, numThreads ${ort.env.wasm.numThreads}, graph optimization all`
        : 'cpu execution provider, intra-op and inter-op threads 1, graph optimization all';
      return { ort, session, details };
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
 */
const tfliteWasm = {
  id: 'tflite-wasm',
  label: 'TFLite wasm runtime (tfjs-tflite, XNNPACK)',
  packages: ['@tensorflow/tfjs-tflite'],
  networks: ['lite0', 'mobilenet'],
  batches: BATCH_ONE,
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
    return { runner, input, output, outputGrid, details: `SIMD build, numThreads 1, input ${input.shape} ${input.dataType}, output ${output.shape} ${output.dataType}` };
  },
  prepare({ runner, input, output, outputGrid }, images) {
    if (images.length !== 1) throw new Error(`The TFLite model takes batch 1 only, but got a batch of ${images.length}.`);
    input.data().set(images[0]);
    return async () => {
      if (!runner.Infer()) throw new Error('TFLite Infer() failed.');
      const { scale, zeroPoint } = outputGrid;
      return Float32Array.from(output.data(), (q) => (q - zeroPoint) * scale);
    };
  },
};

export const ADAPTERS = [ours('simd'), ours('relaxed-simd'), ours('scalar'), tfjsWasm(false), tfjsWasm(true), onnxRuntime('web'), onnxRuntime('node'), tfliteWasm];

export function findAdapter(id) {
  const adapter = ADAPTERS.find((candidate) => candidate.id === id);
  if (!adapter) throw new Error(`Unknown runtime ${id}: expected one of ${ADAPTERS.map((a) => a.id).join(', ')}.`);
  return adapter;
}
