// The page: decodes each chosen photo to an ImageBitmap, transfers it to the worker,
// and lists the predictions that come back. The page itself never loads the model.
import { WorkerClassifier, decodeToBitmap } from './worker-client.js';

const classifier = new WorkerClassifier();
// Exposed for the browser console (and the end-to-end test): try workerClassifier.classify(bitmap).
globalThis.workerClassifier = classifier;

const modelStatus = document.querySelector('#model-status');
const results = document.querySelector('#results');
const predictionList = document.querySelector('#predictions');
const latency = document.querySelector('#latency');
const errorLine = document.querySelector('#error');

async function load(source, sourceName) {
  modelStatus.dataset.state = 'loading';
  modelStatus.textContent = `Loading ${sourceName} in the worker...`;
  try {
    const info = await classifier.load(source);
    modelStatus.dataset.state = 'ready';
    modelStatus.textContent = `${info.name} from ${sourceName}, wasm path ${info.wasmPath} (in the worker).`;
  } catch (error) {
    modelStatus.dataset.state = 'error';
    modelStatus.textContent = `Failed to load ${sourceName}: ${error.message}`;
  }
}

async function classifyFile(file) {
  results.dataset.image = file.name;
  results.dataset.state = 'running';
  errorLine.hidden = true;
  try {
    const bitmap = await decodeToBitmap(file);
    const { predictions, timings } = await classifier.classify(bitmap, { topK: 5 });
    predictionList.replaceChildren(
      ...predictions.map(({ label, score }) => {
        const item = document.createElement('li');
        item.dataset.label = label;
        item.dataset.score = String(score);
        item.textContent = `${label}: ${(score * 100).toFixed(1)}%`;
        return item;
      }),
    );
    latency.textContent = `${timings.totalMs.toFixed(1)} ms in the worker (inference ${timings.inferenceMs.toFixed(1)} ms).`;
    results.dataset.state = 'done';
  } catch (error) {
    predictionList.replaceChildren();
    errorLine.textContent = `Failed to classify ${file.name}: ${error.message}`;
    errorLine.hidden = false;
    results.dataset.state = 'error';
  }
}

document.querySelector('#model-url-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const url = document.querySelector('#model-url').value.trim();
  load(url, url);
});

document.querySelector('#model-file').addEventListener('change', async (event) => {
  const file = event.target.files?.[0];
  if (file) load(await file.arrayBuffer(), file.name);
});

document.querySelector('#photo-file').addEventListener('change', (event) => {
  const file = event.target.files?.[0];
  if (file) classifyFile(file);
});
