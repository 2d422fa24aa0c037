/**
 * Cloudflare Worker for the workerd smoke test, bundled with esbuild the way
 * wrangler bundles a Worker. The model files are data bindings (ArrayBuffer),
 * and the kernels are wasm modules, because workerd forbids compiling wasm
 * from bytes at run time.
 *
 * POST /classify[?modelUrl=<url>][&kernels=<build>]: the body is every
 *   fixture input (150528 bytes each) in INPUT_NAMES order. Responds with the
 *   classifyFixtures report as JSON, for both bound models or for the one
 *   model fetched from modelUrl. kernels names the precompiled build to pass
 *   (relaxed-simd, simd or scalar); without it, the build that wasmSupport() picks.
 * POST /classify-photo?name=<file>: the body is an encoded photo. Responds
 *   with the classifyPhotos report of MobileNetV2 on it, or with the error
 *   message when the package cannot decode it here.
 * GET /embedded-kernels: loads a model without wasmModule and responds with
 *   wasmSupport() and the error message that the package raises.
 */
import * as api from 'efficientnet-wasm';
import relaxedSimdKernels from 'efficientnet-wasm/kernels-relaxed-simd.wasm';
import scalarKernels from 'efficientnet-wasm/kernels-scalar.wasm';
import simdKernels from 'efficientnet-wasm/kernels-simd.wasm';
import { INPUT_BYTES, INPUT_NAMES, classifyFixtures, classifyPhotos } from './fixture-runs.mjs';

const KERNELS = { 'relaxed-simd': relaxedSimdKernels, simd: simdKernels, scalar: scalarKernels };

/** Load options that pass the precompiled module of a build, by default the one that 'auto' would pick. */
const kernelOptions = (build = api.wasmSupport().path) => ({ wasmModule: KERNELS[build] });

async function classify(request, env) {
  const body = new Uint8Array(await request.arrayBuffer());
  const expected = INPUT_BYTES * INPUT_NAMES.length;
  if (body.length !== expected) {
    return new Response(`Invalid body: expected ${expected} bytes (${INPUT_NAMES.join(', ')}), but got ${body.length}.`, {
      status: 400,
    });
  }
  const readInput = async (name) => {
    const offset = INPUT_NAMES.indexOf(name) * INPUT_BYTES;
    return body.subarray(offset, offset + INPUT_BYTES);
  };
  const parameters = new URL(request.url).searchParams;
  const build = parameters.get('kernels') ?? undefined;
  if (build !== undefined && !(build in KERNELS)) {
    return new Response(`Invalid kernels: expected ${Object.keys(KERNELS).join(', ')}, but got ${JSON.stringify(build)}.`, { status: 400 });
  }
  const modelUrl = parameters.get('modelUrl');
  const models = modelUrl
    ? { mobilenet: modelUrl }
    : { flower: new Uint8Array(env.FLOWER_MODEL), mobilenet: new Uint8Array(env.MOBILENET_MODEL) };
  const report = await classifyFixtures(api, models, readInput, kernelOptions(build));
  return Response.json({ runtime: 'workerd', version: navigator.userAgent, ...report });
}

async function classifyPhoto(request, env) {
  const name = new URL(request.url).searchParams.get('name') ?? 'photo';
  const bytes = new Uint8Array(await request.arrayBuffer());
  try {
    const model = new Uint8Array(env.MOBILENET_MODEL);
    const report = await classifyPhotos(api, model, [name], async () => bytes, kernelOptions());
    return Response.json({ runtime: 'workerd', version: navigator.userAgent, ...report });
  } catch (error) {
    return Response.json({ runtime: 'workerd', error: error.message });
  }
}

async function loadWithEmbeddedKernels(env) {
  try {
    await api.loadModel(new Uint8Array(env.FLOWER_MODEL));
    return Response.json({ loaded: true });
  } catch (error) {
    return Response.json({ loaded: false, support: api.wasmSupport(), message: error.message });
  }
}

export default {
  async fetch(request, env) {
    const { pathname } = new URL(request.url);
    try {
      if (pathname === '/classify' && request.method === 'POST') return await classify(request, env);
      if (pathname === '/classify-photo' && request.method === 'POST') return await classifyPhoto(request, env);
      if (pathname === '/embedded-kernels') return await loadWithEmbeddedKernels(env);
      return new Response(`Not found: ${request.method} ${pathname}`, { status: 404 });
    } catch (error) {
      console.error(`${request.method} ${pathname} failed:`, error);
      return new Response(`The worker failed: ${error.stack ?? error}`, { status: 500 });
    }
  },
};
