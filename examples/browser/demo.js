// The demo page: load a model from a URL or a local file, then classify a chosen or
// dropped photo on the main thread and show the top 5 with score bars, the latency and
// the active wasm kernel build.
import { loadModel, wasmSupport } from 'efficientnet-wasm';

const modelUrlForm = document.querySelector('#model-url-form');
const modelUrlInput = document.querySelector('#model-url');
const modelFileInput = document.querySelector('#model-file');
const modelStatus = document.querySelector('#model-status');
const dropZone = document.querySelector('#drop-zone');
const photoInput = document.querySelector('#photo-file');
const preview = document.querySelector('#preview');
const results = document.querySelector('#results');
const predictionList = document.querySelector('#predictions');
const latency = document.querySelector('#latency');
const errorLine = document.querySelector('#error');

let model = null;
let photo = null;
// Counts requests, so a slow load or classification never overwrites a newer one.
let modelRequest = 0;
let classifyRequest = 0;

function setModelStatus(state, text) {
  modelStatus.dataset.state = state;
  modelStatus.textContent = text;
}

async function useModel(source, sourceName) {
  const request = ++modelRequest;
  setModelStatus('loading', `Loading ${sourceName}...`);
  try {
    const loaded = await loadModel(source);
    if (request !== modelRequest) {
      loaded.dispose();
      return;
    }
    model?.dispose();
    model = loaded;
    const { name, inputSize, numClasses, quantized, wasmPath } = model.info;
    const size = inputSize ? `${inputSize.width}x${inputSize.height}` : 'any size';
    setModelStatus(
      'ready',
      `${name} from ${sourceName}: ${size} input, ${numClasses ?? 'no'} classes, ` +
        `${quantized ? 'quantized' : 'float'}, wasm path ${wasmPath}.`,
    );
    if (photo) await classifyPhoto(photo);
  } catch (error) {
    if (request === modelRequest) setModelStatus('error', `Failed to load ${sourceName}: ${error.message}`);
  }
}

function showPredictions(predictions) {
  predictionList.replaceChildren(
    ...predictions.map(({ label, score }) => {
      const item = document.createElement('li');
      item.dataset.label = label;
      item.dataset.score = String(score);

      const name = document.createElement('span');
      name.className = 'label';
      name.textContent = label;
      name.title = label;

      const bar = document.createElement('span');
      bar.className = 'bar';
      const fill = document.createElement('span');
      fill.style.width = `${(score * 100).toFixed(1)}%`;
      bar.append(fill);

      const value = document.createElement('span');
      value.className = 'score';
      value.textContent = `${(score * 100).toFixed(1)}%`;

      item.append(name, bar, value);
      return item;
    }),
  );
}

async function classifyPhoto(file) {
  const request = ++classifyRequest;
  results.dataset.image = file.name;
  results.dataset.state = 'running';
  errorLine.hidden = true;
  if (!model) {
    results.dataset.state = 'empty';
    latency.textContent = 'Load a model to classify this photo.';
    return;
  }
  try {
    // A File is a Blob: classify decodes it with createImageBitmap (JPEG, PNG, WebP) or
    // the package's own BMP decoder, as it would decode the same bytes in Node.
    const { predictions, timings } = await model.classify(file, { topK: 5 });
    if (request !== classifyRequest) return;
    showPredictions(predictions);
    latency.textContent =
      `${timings.totalMs.toFixed(1)} ms in total: decode ${timings.decodeMs.toFixed(1)} ms, ` +
      `preprocess ${timings.preprocessMs.toFixed(1)} ms, inference ${timings.inferenceMs.toFixed(1)} ms ` +
      `(wasm path ${model.info.wasmPath}).`;
    results.dataset.state = 'done';
  } catch (error) {
    if (request !== classifyRequest) return;
    predictionList.replaceChildren();
    latency.textContent = '';
    errorLine.textContent = `Failed to classify ${file.name}: ${error.message}`;
    errorLine.hidden = false;
    results.dataset.state = 'error';
  }
}

function choosePhoto(file) {
  photo = file;
  if (preview.src) URL.revokeObjectURL(preview.src);
  preview.src = URL.createObjectURL(file);
  preview.alt = file.name;
  preview.hidden = false;
  classifyPhoto(file);
}

modelUrlForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const url = modelUrlInput.value.trim();
  // Relative URLs resolve against the page, as fetch() resolves them.
  useModel(new URL(url, location.href), url);
});

modelFileInput.addEventListener('change', async () => {
  const file = modelFileInput.files?.[0];
  if (file) useModel(new Uint8Array(await file.arrayBuffer()), file.name);
});

photoInput.addEventListener('change', () => {
  const file = photoInput.files?.[0];
  if (file) choosePhoto(file);
});

dropZone.addEventListener('dragover', (event) => {
  event.preventDefault();
  dropZone.classList.add('dragging');
});
dropZone.addEventListener('dragleave', () => dropZone.classList.remove('dragging'));
dropZone.addEventListener('drop', (event) => {
  event.preventDefault();
  dropZone.classList.remove('dragging');
  const file = event.dataTransfer?.files?.[0];
  if (file) choosePhoto(file);
});
// A photo dropped beside the drop zone would otherwise replace the page.
window.addEventListener('dragover', (event) => event.preventDefault());
window.addEventListener('drop', (event) => event.preventDefault());

const support = wasmSupport();
setModelStatus('empty', `No model loaded. This browser runs the ${support.path} wasm build.`);
