/**
 * Entry script for the Deno and Bun smoke tests, run from a temporary project that
 * depends on efficientnet-wasm. Prints its report as one JSON line on stdout.
 *
 * Mode "inputs": loads the flower model from bytes read with the runtime's own
 * file API and MobileNetV2 from a file path, and classifies every exact-byte input.
 * Mode "photos": classifies the photo files by path with MobileNetV2, so the
 * package reads and decodes them (BMP itself, JPEG and PNG through sharp).
 * Mode "url": loads MobileNetV2 from the URL given as the third argument and
 * classifies every exact-byte input.
 *
 * Usage: deno run --allow-read=<fixtures> run-fixtures.mjs <fixtures> inputs
 *        bun run-fixtures.mjs <fixtures> photos
 *        bun run-fixtures.mjs <fixtures> url http://127.0.0.1:<port>/mobilenet.tflite
 */
import * as api from 'efficientnet-wasm';
import { MODEL_FILES, PHOTO_FILES, classifyFixtures, classifyPhotos } from './fixture-runs.mjs';

const isDeno = typeof globalThis.Deno !== 'undefined';
const isBun = typeof globalThis.Bun !== 'undefined';
if (!isDeno && !isBun) throw new Error('run-fixtures.mjs runs in Deno or Bun; Node computes its report in the test process.');

const [fixtures, mode, modelUrl] = isDeno ? Deno.args : process.argv.slice(2);
if (!fixtures || !['inputs', 'photos', 'url'].includes(mode) || (mode === 'url') !== (modelUrl !== undefined)) {
  throw new Error(
    `Invalid arguments: expected <fixture folder> inputs|photos|url [model URL], but got ${JSON.stringify([fixtures, mode, modelUrl])}.`,
  );
}

const readBytes = isDeno ? (path) => Deno.readFile(path) : (path) => Bun.file(path).bytes();
const mobilenetPath = `${fixtures}/models/${MODEL_FILES.mobilenet}`;

const readInput = (name) => readBytes(`${fixtures}/inputs/${name}.224x224x3.u8.bin`);
let report;
if (mode === 'inputs') {
  const models = { flower: await readBytes(`${fixtures}/models/${MODEL_FILES.flower}`), mobilenet: mobilenetPath };
  report = await classifyFixtures(api, models, readInput);
} else if (mode === 'url') {
  report = await classifyFixtures(api, { mobilenet: modelUrl }, readInput);
} else {
  report = await classifyPhotos(api, mobilenetPath, PHOTO_FILES, (file) => `${fixtures}/images/${file}`);
}
const runtime = isDeno ? 'deno' : 'bun';
const version = isDeno ? Deno.version.deno : Bun.version;
console.log(JSON.stringify({ runtime, version, ...report }));
